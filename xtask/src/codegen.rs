//! `codegen`: `model/*.json` → `crates/protocol/src/generated/{iam,sts,error_code}.rs`.
//!
//! For each service: a struct per structure shape reachable from an operation (inputs renamed
//! `{Op}Request`, outputs `{Op}Response`), an enum per string enum, Query decoders that apply the
//! model's constraints, XML encoders in model member order, the `{Service}Api` trait whose every
//! method answers NotImplemented, and `dispatch`. For both services together: `ErrorCode`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::json::{self, Json};

pub struct Service {
    /// Module and file name: `iam`.
    pub module: &'static str,
    /// `model/` file name.
    pub model_file: &'static str,
    /// `IamApi`.
    pub trait_name: &'static str,
}

pub const SERVICES: &[Service] = &[
    Service {
        module: "iam",
        model_file: "iam-2010-05-08.json",
        trait_name: "IamApi",
    },
    Service {
        module: "sts",
        model_file: "sts-2011-06-15.json",
        trait_name: "StsApi",
    },
];

/// Errors every Query service can return besides the modelled ones (AWS's "Common Errors"
/// page for IAM and STS), with HTTP status. `ExpiredToken` (403) is the common error for an
/// expired session token in the request's credentials, distinct from STS's modelled
/// `ExpiredTokenException` (400) about a token passed as a parameter.
const COMMON_ERRORS: &[(&str, u16)] = &[
    ("AccessDenied", 403),
    ("ExpiredToken", 403),
    ("IncompleteSignature", 400),
    ("InternalFailure", 500),
    ("InvalidAction", 400),
    ("InvalidClientTokenId", 403),
    ("InvalidParameterCombination", 400),
    ("InvalidParameterValue", 400),
    ("InvalidQueryParameter", 400),
    ("MalformedQueryString", 404),
    ("MissingAction", 400),
    ("MissingAuthenticationToken", 403),
    ("MissingParameter", 400),
    ("NotImplemented", 501),
    ("OptInRequired", 403),
    ("RequestEntityTooLarge", 413),
    ("RequestExpired", 400),
    ("ServiceUnavailable", 503),
    ("SignatureDoesNotMatch", 403),
    ("Throttling", 400),
    ("ValidationError", 400),
];

/// Names the generated modules use themselves; a shape must not take them.
const RESERVED_TYPES: &[&str] = &[
    "String",
    "Vec",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Box",
    "Timestamp",
    "ApiError",
    "ErrorCode",
];

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

pub fn run() -> Result<(), String> {
    for (path, text) in generate_all(&crate::workspace_root())? {
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Every generated file (path, formatted text), from the models under `root/model`.
pub fn generate_all(root: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let out_dir = root.join("crates/protocol/src/generated");
    let mut files = Vec::new();
    let mut models = Vec::new();
    for svc in SERVICES {
        let path = root.join("model").join(svc.model_file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let model = json::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let code = ServiceGen::new(svc, &model)?.generate()?;
        files.push((out_dir.join(format!("{}.rs", svc.module)), rustfmt(&code)?));
        models.push((svc, model));
    }
    files.push((
        out_dir.join("error_code.rs"),
        rustfmt(&error_codes(&models)?)?,
    ));
    Ok(files)
}

fn rustfmt(code: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt: no stdin")?;
    let input = code.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt: writer thread failed")?
        .map_err(|e| format!("rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Names.

/// `OpenIDConnectProviderArn` → `open_id_connect_provider_arn`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = if i > 0 {
                chars.get(i - 1).copied()
            } else {
                None
            };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out
}

fn field_ident(member: &str) -> String {
    let s = snake(member);
    if RUST_KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

/// `statusType` → `StatusType`.
fn type_ident(shape: &str) -> String {
    let mut c = shape.chars();
    match c.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// `UserName` → `userName`: how validation messages name a member.
fn lower_camel(member: &str) -> String {
    let mut c = member.chars();
    match c.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Enum wire value → variant: `SERVICE_LEVEL` → `ServiceLevel`, `aws-managed` → `AwsManaged`,
/// `explicitDeny` → `ExplicitDeny`, `text/csv` → `TextCsv`.
fn variant_ident(value: &str) -> String {
    let mut out = String::new();
    for part in value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        let all_upper = !part.chars().any(|c| c.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            if all_upper {
                out.extend(chars.map(|c| c.to_ascii_lowercase()));
            } else {
                out.push_str(chars.as_str());
            }
        }
    }
    if out.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// A Rust string literal for `s`, raw when that reads better.
fn lit(s: &str) -> String {
    if s.contains('\\') && !s.contains("\"#") && !s.chars().any(char::is_control) {
        format!("r#\"{s}\"#")
    } else {
        format!("{s:?}")
    }
}

fn opt_num(v: Option<i64>) -> String {
    match v {
        Some(n) => format!("Some({n})"),
        None => "None".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns: botocore's are Java regexes.

/// Translates a model pattern for the `regex` crate, anchored to the whole value. Returns the
/// regex and the substrings a value must not contain (for the one lookahead idiom in the
/// models, `-(?!-)`, "a hyphen not followed by another", which `regex` cannot express).
///
/// - `\uXXXX` → `\x{XXXX}`. botocore writes supplementary code points as `\u10000`/`\u10FFFF`;
///   read literally as Java would, that is U+1000 followed by `0`, which is not what the model
///   means, so a `\u1` followed by five or six hex digits in 0x10000..=0x10FFFF is one code point.
/// - `\w` and `\d` are ASCII in Java and Unicode in `regex`: spelled out as ASCII classes.
pub fn translate_pattern(src: &str) -> Result<(String, Vec<String>), String> {
    let mut forbidden = Vec::new();
    let mut text = src.to_owned();
    if text.contains("-(?!-)") {
        text = text.replace("-(?!-)", "-");
        forbidden.push("--".to_owned());
    }
    if text.contains("(?=") || text.contains("(?!") || text.contains("(?<") {
        return Err(format!(
            "pattern {src:?}: lookaround is not supported; add a translation"
        ));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut in_class = false;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '\\' => {
                let Some(&e) = chars.get(i) else {
                    return Err(format!("pattern {src:?}: trailing backslash"));
                };
                i += 1;
                match e {
                    'u' => {
                        let hex: String = chars
                            .iter()
                            .skip(i)
                            .take_while(|c| c.is_ascii_hexdigit())
                            .take(6)
                            .collect();
                        let four = hex
                            .get(..4)
                            .ok_or_else(|| format!("pattern {src:?}: bad \\u escape"))?;
                        let mut take = 4;
                        if four.starts_with('1') {
                            for len in [6, 5] {
                                if let Some(long) = hex.get(..len)
                                    && let Ok(cp) = u32::from_str_radix(long, 16)
                                    && (0x10000..=0x10FFFF).contains(&cp)
                                {
                                    take = len;
                                    break;
                                }
                            }
                        }
                        let digits = hex.get(..take).unwrap_or(four);
                        let _ = write!(out, "\\x{{{digits}}}");
                        i += take;
                    }
                    'w' => out.push_str(if in_class {
                        "0-9A-Za-z_"
                    } else {
                        "[0-9A-Za-z_]"
                    }),
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    let anchored = format!("^(?:{out})$");
    regex::Regex::new(&anchored).map_err(|e| format!("pattern {src:?} → {anchored:?}: {e}"))?;
    Ok((anchored, forbidden))
}

// ---------------------------------------------------------------------------------------------
// One service.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Structure,
    String,
    Enum,
    Integer,
    Long,
    Boolean,
    Timestamp,
    Blob,
    List,
    Map,
}

struct ServiceGen<'m> {
    svc: &'static Service,
    model: &'m Json,
    shapes: &'m Json,
    /// Shape name → Rust type name, for structures and enums.
    names: BTreeMap<String, String>,
    /// Structures reachable from inputs (need decoders) and from outputs (need encoders).
    decode: BTreeSet<String>,
    encode: BTreeSet<String>,
    /// Enums used anywhere reachable.
    enums: BTreeSet<String>,
    /// Pattern source → static name.
    patterns: BTreeMap<String, String>,
    /// String shapes with constraints, reachable from inputs.
    str_rules: BTreeSet<String>,
    /// Aliases `{Op}Request`/`{Op}Response` → shape type, where a shape serves several operations.
    aliases: Vec<(String, String)>,
    /// Empty input structs for operations without an input shape.
    empty_inputs: Vec<String>,
}

struct Op<'m> {
    name: &'m str,
    input: Option<String>,
    output: Option<(String, String)>,
}

impl<'m> ServiceGen<'m> {
    fn new(svc: &'static Service, model: &'m Json) -> Result<Self, String> {
        let shapes = model.get("shapes").ok_or("model has no shapes")?;
        Ok(ServiceGen {
            svc,
            model,
            shapes,
            names: BTreeMap::new(),
            decode: BTreeSet::new(),
            encode: BTreeSet::new(),
            enums: BTreeSet::new(),
            patterns: BTreeMap::new(),
            str_rules: BTreeSet::new(),
            aliases: Vec::new(),
            empty_inputs: Vec::new(),
        })
    }

    fn shape(&self, name: &str) -> Result<&'m Json, String> {
        self.shapes
            .get(name)
            .ok_or_else(|| format!("unknown shape {name}"))
    }

    fn kind(&self, name: &str) -> Result<Kind, String> {
        let s = self.shape(name)?;
        Ok(match s.str_at("type").unwrap_or_default() {
            "structure" => Kind::Structure,
            "string" if s.get("enum").is_some() => Kind::Enum,
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "long" => Kind::Long,
            "boolean" => Kind::Boolean,
            "timestamp" => Kind::Timestamp,
            "blob" => Kind::Blob,
            "list" => Kind::List,
            "map" => Kind::Map,
            other => return Err(format!("shape {name}: unsupported type {other:?}")),
        })
    }

    fn target(member: &Json) -> Result<&str, String> {
        member
            .str_at("shape")
            .ok_or_else(|| "member without shape".to_owned())
    }

    fn ops(&self) -> Result<Vec<Op<'m>>, String> {
        let mut ops = Vec::new();
        for (name, op) in self
            .model
            .get("operations")
            .map(Json::entries)
            .unwrap_or_default()
        {
            let input = op
                .get("input")
                .and_then(|i| i.str_at("shape"))
                .map(str::to_owned);
            let output = match op.get("output") {
                Some(o) => {
                    let shape = o.str_at("shape").ok_or("output without shape")?.to_owned();
                    let wrapper = o
                        .str_at("resultWrapper")
                        .map_or_else(|| format!("{name}Result"), str::to_owned);
                    Some((shape, wrapper))
                }
                None => None,
            };
            ops.push(Op {
                name,
                input,
                output,
            });
        }
        Ok(ops)
    }

    /// Marks `shape` and everything under it as needing a decoder (`input`) or an encoder.
    fn visit(&mut self, shape: &str, input: bool) -> Result<(), String> {
        match self.kind(shape)? {
            Kind::Structure => {
                let set = if input {
                    &mut self.decode
                } else {
                    &mut self.encode
                };
                if !set.insert(shape.to_owned()) {
                    return Ok(());
                }
                let s = self.shape(shape)?;
                if s.get("exception").and_then(Json::as_bool) == Some(true) {
                    return Err(format!("exception shape {shape} used as data"));
                }
                for (_, m) in s.get("members").map(Json::entries).unwrap_or_default() {
                    self.visit(Self::target(m)?, input)?;
                }
            }
            Kind::List => {
                let s = self.shape(shape)?;
                let member = Self::target(s.get("member").ok_or("list without member")?)?;
                if matches!(self.kind(member)?, Kind::List | Kind::Map) {
                    return Err(format!("list {shape} of lists/maps is not supported"));
                }
                self.visit(member, input)?;
            }
            Kind::Map => {
                let s = self.shape(shape)?;
                for part in ["key", "value"] {
                    let t = Self::target(s.get(part).ok_or("map without key/value")?)?;
                    if matches!(self.kind(t)?, Kind::List | Kind::Map) {
                        return Err(format!("map {shape} of lists/maps is not supported"));
                    }
                    self.visit(t, input)?;
                }
            }
            Kind::Enum => {
                self.enums.insert(shape.to_owned());
            }
            Kind::String if input => {
                let s = self.shape(shape)?;
                if let Some(p) = s.str_at("pattern") {
                    translate_pattern(p)?;
                    let next = format!("P{}", self.patterns.len());
                    self.patterns.entry(p.to_owned()).or_insert(next);
                }
                if s.get("pattern").is_some()
                    || s.get("min").is_some()
                    || s.get("max").is_some()
                    || self.is_sensitive(shape)?
                {
                    self.str_rules.insert(shape.to_owned());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn prepare(&mut self, ops: &[Op<'m>]) -> Result<(), String> {
        for op in ops {
            if let Some(i) = &op.input {
                self.visit(i, true)?;
            }
            if let Some((o, _)) = &op.output {
                self.visit(o, false)?;
            }
        }
        // Type names: the model's names, except operation inputs/outputs, which are
        // `{Op}Request`/`{Op}Response` when the shape serves one operation.
        let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
        for op in ops {
            for s in op.input.iter().chain(op.output.iter().map(|(s, _)| s)) {
                *uses.entry(s).or_default() += 1;
            }
        }
        let mut nested = BTreeSet::new();
        for (_, s) in self.shapes.entries() {
            for (_, m) in s.get("members").map(Json::entries).unwrap_or_default() {
                nested.insert(Self::target(m)?.to_owned());
            }
        }
        for name in self.decode.iter().chain(&self.encode).chain(&self.enums) {
            self.names.insert(name.clone(), type_ident(name));
        }
        for op in ops {
            for (shape, suffix) in op
                .input
                .iter()
                .map(|s| (s, "Request"))
                .chain(op.output.iter().map(|(s, _)| (s, "Response")))
            {
                let wanted = format!("{}{suffix}", op.name);
                let single = uses.get(shape.as_str()) == Some(&1) && !nested.contains(shape);
                if single {
                    self.names.insert(shape.clone(), wanted);
                } else if self.names.get(shape) != Some(&wanted) {
                    self.aliases.push((wanted, type_ident(shape)));
                }
            }
            if op.input.is_none() {
                self.empty_inputs.push(format!("{}Request", op.name));
            }
        }
        let mut seen = BTreeSet::new();
        let all = self
            .names
            .values()
            .cloned()
            .chain(self.aliases.iter().map(|(a, _)| a.clone()))
            .chain(self.empty_inputs.iter().cloned());
        for n in all {
            if RESERVED_TYPES.contains(&n.as_str()) || !seen.insert(n.clone()) {
                // A shape shared by input and output appears once in `names`, so a repeat is a clash.
                return Err(format!("type name {n} is reserved or used twice"));
            }
        }
        Ok(())
    }

    fn type_name(&self, shape: &str) -> Result<String, String> {
        self.names
            .get(shape)
            .cloned()
            .ok_or_else(|| format!("no type name for {shape}"))
    }

    /// The Rust type of a value of `shape`.
    fn rust_type(&self, shape: &str) -> Result<String, String> {
        let s = self.shape(shape)?;
        Ok(match self.kind(shape)? {
            Kind::Structure | Kind::Enum => self.type_name(shape)?,
            Kind::String => "String".into(),
            Kind::Integer => "i32".into(),
            Kind::Long => "i64".into(),
            Kind::Boolean => "bool".into(),
            Kind::Timestamp => "Timestamp".into(),
            Kind::Blob => "Vec<u8>".into(),
            Kind::List => {
                let m = Self::target(s.get("member").ok_or("list without member")?)?;
                format!("Vec<{}>", self.rust_type(m)?)
            }
            Kind::Map => {
                let k = Self::target(s.get("key").ok_or("map without key")?)?;
                let v = Self::target(s.get("value").ok_or("map without value")?)?;
                format!("Vec<({}, {})>", self.rust_type(k)?, self.rust_type(v)?)
            }
        })
    }

    /// Whether `Debug` must print `***` for values of `shape`: the model's `sensitive` shapes,
    /// plus STS's session token (`tokenType`), a bearer credential the model does not mark.
    fn is_sensitive(&self, shape: &str) -> Result<bool, String> {
        let extra = self.svc.module == "sts" && shape == "tokenType";
        Ok(extra || self.shape(shape)?.get("sensitive").and_then(Json::as_bool) == Some(true))
    }

    /// Whether a value of `shape` has a `Default`.
    fn has_default(&self, shape: &str, depth: usize) -> Result<bool, String> {
        if depth > 32 {
            return Err(format!("recursive shape {shape} is not supported"));
        }
        Ok(match self.kind(shape)? {
            Kind::Enum => false,
            Kind::Structure => {
                let s = self.shape(shape)?;
                let required = required_set(s);
                let mut ok = true;
                for (m, ms) in s.get("members").map(Json::entries).unwrap_or_default() {
                    if required.contains(m.as_str())
                        && !self.has_default(Self::target(ms)?, depth + 1)?
                    {
                        ok = false;
                    }
                }
                ok
            }
            _ => true,
        })
    }

    fn generate(mut self) -> Result<String, String> {
        let ops = self.ops()?;
        self.prepare(&ops)?;
        let meta = self.model.get("metadata").ok_or("model has no metadata")?;
        let xmlns = meta.str_at("xmlNamespace").ok_or("no xmlNamespace")?;
        let version = meta.str_at("apiVersion").ok_or("no apiVersion")?;
        let mut o = String::new();
        let svc = self.svc;
        let _ = writeln!(
            o,
            "// Auto generated by `cargo xtask codegen` from model/{} — do not edit.",
            svc.model_file
        );
        let _ = writeln!(
            o,
            "//! {} shapes, the `{}` trait and `dispatch`, from AWS's model `{}`.\n",
            svc.module.to_uppercase(),
            svc.trait_name,
            svc.model_file
        );
        o.push_str(
            "#![allow(clippy::doc_markdown, reason = \"names come from the model\")]\n\
             #![allow(clippy::too_many_lines, reason = \"one arm per operation\")]\n\
             #![allow(clippy::large_enum_variant, reason = \"generated\")]\n\n\
             use gatehouse_types::Timestamp;\n\n\
             use crate::codec::{self, DecodeQuery, Decoder, EncodeXml, Field, XmlWriter};\n\
             use crate::error::{ApiError, ErrorCode};\n\
             use crate::query::QueryParams;\n\n",
        );
        let _ = writeln!(
            o,
            "/// The XML namespace of every response.\npub const XMLNS: &str = {xmlns:?};"
        );
        let _ = writeln!(
            o,
            "/// The API version; requests must send `Version={version}`.\npub const VERSION: &str = {version:?};"
        );
        o.push_str("/// Every operation in the model, in model order.\npub const OPERATIONS: &[&str] = &[\n");
        for op in &ops {
            let _ = writeln!(o, "    {:?},", op.name);
        }
        o.push_str("];\n\n");

        self.gen_patterns(&mut o);
        self.gen_str_rules(&mut o)?;
        self.gen_enums(&mut o)?;
        self.gen_structs(&mut o)?;
        self.gen_trait(&mut o, &ops)?;
        self.gen_dispatch(&mut o, &ops)?;
        Ok(o)
    }

    fn gen_patterns(&self, o: &mut String) {
        if self.patterns.is_empty() {
            return;
        }
        o.push_str("// Patterns from the model, translated for the `regex` crate by xtask.\n");
        let mut by_name: Vec<(&String, &String)> = self
            .patterns
            .iter()
            .map(|(src, name)| (name, src))
            .collect();
        by_name.sort_by_key(|(name, _)| {
            name.trim_start_matches('P')
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        for (name, src) in &by_name {
            // translate_pattern already succeeded in `visit`'s caller or fails here.
            let (re, forbidden) = translate_pattern(src).unwrap_or_default();
            let forbidden: Vec<String> = forbidden.iter().map(|f| lit(f)).collect();
            let _ = writeln!(
                o,
                "static {name}: codec::Pattern = codec::Pattern::new({}, {}, &[{}]);",
                lit(src),
                lit(&re),
                forbidden.join(", ")
            );
        }
        o.push_str("\n#[cfg(test)]\npub(crate) static PATTERNS: &[&codec::Pattern] = &[");
        for (name, _) in &by_name {
            let _ = write!(o, "&{name}, ");
        }
        o.push_str("];\n\n");
    }

    fn rules_name(shape: &str) -> String {
        format!("R_{}", snake(shape).to_uppercase())
    }

    fn gen_str_rules(&self, o: &mut String) -> Result<(), String> {
        for shape in &self.str_rules {
            let s = self.shape(shape)?;
            let pattern = match s.str_at("pattern") {
                Some(p) => format!(
                    "Some(&{})",
                    self.patterns.get(p).ok_or("pattern not collected")?
                ),
                None => "None".into(),
            };
            let _ = writeln!(
                o,
                "static {}: codec::StrRules = codec::StrRules {{ min: {}, max: {}, pattern: {pattern}, sensitive: {} }};",
                Self::rules_name(shape),
                opt_num(s.get("min").and_then(Json::as_i64)),
                opt_num(s.get("max").and_then(Json::as_i64)),
                self.is_sensitive(shape)?,
            );
        }
        o.push('\n');
        Ok(())
    }

    fn gen_enums(&self, o: &mut String) -> Result<(), String> {
        for shape in &self.enums {
            let s = self.shape(shape)?;
            let name = self.type_name(shape)?;
            let _ = writeln!(
                o,
                "codec::wire_enum! {{\n    /// The model's `{shape}`.\n    {name} {{"
            );
            let mut seen = BTreeSet::new();
            for v in s.get("enum").map(Json::as_array).unwrap_or_default() {
                let v = v.as_str().ok_or("non-string enum value")?;
                let variant = variant_ident(v);
                if !seen.insert(variant.clone()) {
                    return Err(format!("enum {shape}: two values map to {variant}"));
                }
                let _ = writeln!(o, "        {variant} => {v:?},");
            }
            o.push_str("    }\n}\n\n");
        }
        Ok(())
    }

    fn gen_structs(&self, o: &mut String) -> Result<(), String> {
        for name in &self.empty_inputs {
            let _ = writeln!(
                o,
                "/// The (empty) input of an operation the model gives no input shape.\n\
                 #[derive(Debug, Clone, PartialEq, Eq, Default)]\npub struct {name} {{}}\n\n\
                 impl {name} {{\n    fn decode_at(_d: &mut Decoder<'_>, _at: &Field) -> Option<Self> {{ Some(Self {{}}) }}\n}}\n\n\
                 impl DecodeQuery for {name} {{\n    fn decode_fields(d: &mut Decoder<'_>, at: &Field) -> Option<Self> {{\n        Self::decode_at(d, at)\n    }}\n}}\n"
            );
        }
        let all: BTreeSet<&String> = self.decode.iter().chain(&self.encode).collect();
        let input_shapes: BTreeSet<String> =
            self.ops()?.into_iter().filter_map(|op| op.input).collect();
        for shape in all {
            self.gen_struct(o, shape, input_shapes.contains(shape))?;
        }
        for (alias, target) in &self.aliases {
            let _ = writeln!(
                o,
                "/// Shared by several operations in the model.\npub type {alias} = {target};\n"
            );
        }
        Ok(())
    }

    fn gen_struct(&self, o: &mut String, shape: &str, is_input: bool) -> Result<(), String> {
        let s = self.shape(shape)?;
        let name = self.type_name(shape)?;
        let required = required_set(s);
        let members = s.get("members").map(Json::entries).unwrap_or_default();
        let mut sensitive = false;
        let mut seen = BTreeSet::new();
        for (m, ms) in members {
            if self.is_sensitive(Self::target(ms)?)? {
                sensitive = true;
            }
            if !seen.insert(field_ident(m)) {
                return Err(format!(
                    "{shape}: two members map to field {}",
                    field_ident(m)
                ));
            }
        }
        let mut derives = vec!["Clone", "PartialEq"];
        if !sensitive {
            derives.insert(0, "Debug");
        }
        if self.has_default(shape, 0)? {
            derives.push("Default");
        }
        let _ = writeln!(
            o,
            "/// The model's `{shape}`.\n#[derive({})]\npub struct {name} {{",
            derives.join(", ")
        );
        for (m, ms) in members {
            let t = self.rust_type(Self::target(ms)?)?;
            let t = if required.contains(m.as_str()) {
                t
            } else {
                format!("Option<{t}>")
            };
            let _ = writeln!(o, "    pub {}: {t},", field_ident(m));
        }
        o.push_str("}\n\n");

        if sensitive {
            let _ = writeln!(
                o,
                "impl ::std::fmt::Debug for {name} {{\n    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\n        f.debug_struct({name:?})"
            );
            for (m, ms) in members {
                let field = field_ident(m);
                if self.is_sensitive(Self::target(ms)?)? {
                    let _ = writeln!(o, "            .field({:?}, &\"***\")", snake(m));
                } else {
                    let _ = writeln!(o, "            .field({:?}, &self.{field})", snake(m));
                }
            }
            o.push_str("            .finish()\n    }\n}\n\n");
        }

        if self.decode.contains(shape) {
            let _ = writeln!(
                o,
                "impl {name} {{\n    fn decode_at(d: &mut Decoder<'_>, at: &Field) -> Option<Self> {{"
            );
            if members.is_empty() {
                o.push_str("        let _ = (d, at);\n");
            }
            for (m, ms) in members {
                let wire = ms.str_at("locationName").unwrap_or(m);
                let target = Self::target(ms)?;
                let expr = self.decode_expr(target, "f")?;
                let var = format!("v_{}", snake(m));
                if required.contains(m.as_str()) {
                    let _ = writeln!(
                        o,
                        "        let {var} = {{ let f = &at.member({wire:?}, {:?}); let v = {expr}; d.require(v, f) }};",
                        lower_camel(m)
                    );
                } else {
                    let _ = writeln!(
                        o,
                        "        let {var} = {{ let f = &at.member({wire:?}, {:?}); {expr} }};",
                        lower_camel(m)
                    );
                }
            }
            o.push_str("        Some(Self {\n");
            for (m, _) in members {
                let q = if required.contains(m.as_str()) {
                    "?"
                } else {
                    ""
                };
                let _ = writeln!(o, "            {}: v_{}{q},", field_ident(m), snake(m));
            }
            o.push_str("        })\n    }\n}\n\n");
            if is_input {
                let _ = writeln!(
                    o,
                    "impl DecodeQuery for {name} {{\n    fn decode_fields(d: &mut Decoder<'_>, at: &Field) -> Option<Self> {{\n        Self::decode_at(d, at)\n    }}\n}}\n"
                );
            }
        }

        if self.encode.contains(shape) {
            let _ = writeln!(
                o,
                "impl EncodeXml for {name} {{\n    fn encode_members(&self, w: &mut XmlWriter) {{"
            );
            if members.is_empty() {
                o.push_str("        let _ = w;\n");
            }
            for (m, ms) in members {
                let wire = ms.str_at("locationName").unwrap_or(m);
                let target = Self::target(ms)?;
                let ts = self.shape(target)?;
                let req = required.contains(m.as_str());
                let field = format!("&self.{}", field_ident(m));
                let flattened = ms
                    .get("flattened")
                    .and_then(Json::as_bool)
                    .or_else(|| ts.get("flattened").and_then(Json::as_bool))
                    == Some(true);
                match self.kind(target)? {
                    Kind::List => {
                        let member = ts.get("member").ok_or("list without member")?;
                        let mname = member.str_at("locationName").unwrap_or(if flattened {
                            wire
                        } else {
                            "member"
                        });
                        let f = if req { "list" } else { "opt_list" };
                        let _ = writeln!(
                            o,
                            "        w.{f}({wire:?}, {mname:?}, {flattened}, {field});"
                        );
                    }
                    Kind::Map => {
                        let k = ts
                            .get("key")
                            .and_then(|k| k.str_at("locationName"))
                            .unwrap_or("key");
                        let v = ts
                            .get("value")
                            .and_then(|v| v.str_at("locationName"))
                            .unwrap_or("value");
                        let f = if req { "map" } else { "opt_map" };
                        let _ = writeln!(
                            o,
                            "        w.{f}({wire:?}, {k:?}, {v:?}, {flattened}, {field});"
                        );
                    }
                    // AWS leaves these out when it has no value, although the model says
                    // required (the root user's GetUser has no UserName or Path); handlers say
                    // "no value" with an empty string.
                    Kind::String if req && OMITTED_WHEN_EMPTY.contains(&(shape, m.as_str())) => {
                        let _ = writeln!(o, "        w.required_string({wire:?}, {field});");
                    }
                    _ => {
                        let f = if req { "element" } else { "opt_element" };
                        let _ = writeln!(o, "        w.{f}({wire:?}, {field});");
                    }
                }
            }
            o.push_str("    }\n}\n\n");
        }
        Ok(())
    }

    /// An expression decoding a value of `shape` at field variable `f` (a `Field`), of type
    /// `Option<T>`.
    fn decode_expr(&self, shape: &str, f: &str) -> Result<String, String> {
        let s = self.shape(shape)?;
        let min = s.get("min").and_then(Json::as_i64);
        let max = s.get("max").and_then(Json::as_i64);
        Ok(match self.kind(shape)? {
            Kind::Structure => format!("d.structure({f}, {}::decode_at)", self.type_name(shape)?),
            Kind::Enum => format!("d.enumeration::<{}>({f})", self.type_name(shape)?),
            Kind::String if self.str_rules.contains(shape) => {
                format!("d.string({f}, &{})", Self::rules_name(shape))
            }
            Kind::String => format!("d.string({f}, &codec::NO_RULES)"),
            Kind::Integer => format!("d.integer({f}, {}, {})", opt_num(min), opt_num(max)),
            Kind::Long => format!("d.long({f}, {}, {})", opt_num(min), opt_num(max)),
            Kind::Boolean => format!("d.boolean({f})"),
            Kind::Timestamp => format!("d.timestamp({f})"),
            Kind::Blob => format!("d.blob({f}, {}, {})", opt_num(min), opt_num(max)),
            Kind::List => {
                let member = s.get("member").ok_or("list without member")?;
                let flattened = s.get("flattened").and_then(Json::as_bool) == Some(true);
                let mname = member.str_at("locationName").unwrap_or("member");
                let inner = self.decode_expr(Self::target(member)?, "f")?;
                format!(
                    "d.list({f}, {mname:?}, {flattened}, {}, {}, |d, f| {inner})",
                    opt_num(min),
                    opt_num(max)
                )
            }
            Kind::Map => {
                let key = s.get("key").ok_or("map without key")?;
                let value = s.get("value").ok_or("map without value")?;
                let flattened = s.get("flattened").and_then(Json::as_bool) == Some(true);
                let kname = key.str_at("locationName").unwrap_or("key");
                let vname = value.str_at("locationName").unwrap_or("value");
                let kexpr = self.decode_expr(Self::target(key)?, "f")?;
                let vexpr = self.decode_expr(Self::target(value)?, "f")?;
                format!(
                    "d.map({f}, {kname:?}, {vname:?}, {flattened}, {}, {}, |d, f| {kexpr}, |d, f| {vexpr})",
                    opt_num(min),
                    opt_num(max)
                )
            }
        })
    }

    fn output_type(&self, op: &Op<'_>) -> Result<Option<String>, String> {
        match &op.output {
            None => Ok(None),
            Some((shape, _)) => {
                let wanted = format!("{}Response", op.name);
                if self.aliases.iter().any(|(a, _)| *a == wanted)
                    || self.type_name(shape)? == wanted
                {
                    Ok(Some(wanted))
                } else {
                    Ok(Some(self.type_name(shape)?))
                }
            }
        }
    }

    fn input_type(&self, op: &Op<'_>) -> Result<String, String> {
        match &op.input {
            None => Ok(format!("{}Request", op.name)),
            Some(shape) => {
                let wanted = format!("{}Request", op.name);
                if self.aliases.iter().any(|(a, _)| *a == wanted) {
                    Ok(wanted)
                } else {
                    self.type_name(shape)
                }
            }
        }
    }

    fn gen_trait(&self, o: &mut String, ops: &[Op<'_>]) -> Result<(), String> {
        let t = self.svc.trait_name;
        let _ = writeln!(
            o,
            "/// The {} API. Every method answers NotImplemented until an implementation overrides it.\n\
             pub trait {t} {{\n\
             \x20   /// Per-request context (caller identity, request id, clock reading, …).\n\
             \x20   type Ctx;\n\
             \x20   /// Operations this implementation provides. [`dispatch`] answers NotImplemented (501)\n\
             \x20   /// for every other operation *before* decoding its input; docs/compatibility.md is\n\
             \x20   /// generated from this list.\n\
             \x20   const IMPLEMENTED: &'static [&'static str];\n",
            self.svc.module.to_uppercase()
        );
        for op in ops {
            let input = self.input_type(op)?;
            let output = self.output_type(op)?.unwrap_or_else(|| "()".into());
            let _ = writeln!(
                o,
                "    /// `{}`.\n    fn {}(&self, cx: &Self::Ctx, input: {input}) -> Result<{output}, ApiError> {{\n        let _ = (cx, input);\n        Err(ApiError::not_implemented({:?}))\n    }}",
                op.name,
                snake(op.name),
                op.name
            );
        }
        o.push_str("}\n\n");
        Ok(())
    }

    fn gen_dispatch(&self, o: &mut String, ops: &[Op<'_>]) -> Result<(), String> {
        let t = self.svc.trait_name;
        let _ = writeln!(
            o,
            "/// Decodes `params` for `action`, calls the method and encodes the whole XML response.\n\
             ///\n\
             /// A `Version` other than [`VERSION`] (or none) and an unknown action both answer\n\
             /// `InvalidAction: Could not find operation {{action}} for version {{version}}`, as AWS does\n\
             /// (`NO_VERSION_SPECIFIED` when the parameter is absent). Operations not in\n\
             /// `S::IMPLEMENTED` answer NotImplemented without decoding their input.\n\
             pub fn dispatch<S: {t} + ?Sized>(svc: &S, cx: &S::Ctx, action: &str, params: &QueryParams, request_id: &str) -> Result<String, ApiError> {{\n\
             \x20   let version = params.version().unwrap_or(\"NO_VERSION_SPECIFIED\");\n\
             \x20   if version != VERSION || !OPERATIONS.contains(&action) {{\n\
             \x20       return Err(ApiError::new(ErrorCode::InvalidAction, format!(\"Could not find operation {{action}} for version {{version}}\")));\n\
             \x20   }}\n\
             \x20   if !S::IMPLEMENTED.contains(&action) {{\n\
             \x20       return Err(ApiError::not_implemented(action));\n\
             \x20   }}\n\
             \x20   match action {{"
        );
        for op in ops {
            let input = self.input_type(op)?;
            let method = snake(op.name);
            match (&op.output, self.output_type(op)?) {
                (Some((_, wrapper)), Some(_)) => {
                    let _ = writeln!(
                        o,
                        "        {:?} => {{\n            let output = svc.{method}(cx, {input}::decode_query(params)?)?;\n            Ok(codec::response_document(XMLNS, {:?}, Some(({wrapper:?}, &output)), request_id))\n        }}",
                        op.name, op.name
                    );
                }
                _ => {
                    let _ = writeln!(
                        o,
                        "        {:?} => {{\n            svc.{method}(cx, {input}::decode_query(params)?)?;\n            Ok(codec::response_document(XMLNS, {:?}, None, request_id))\n        }}",
                        op.name, op.name
                    );
                }
            }
        }
        o.push_str(
            "        _ => Err(ApiError::new(ErrorCode::InvalidAction, format!(\"Could not find operation {action} for version {version}\"))),\n    }\n}\n",
        );
        Ok(())
    }
}

/// Required output members AWS nevertheless omits when it has no value for them.
const OMITTED_WHEN_EMPTY: &[(&str, &str)] = &[("User", "Path"), ("User", "UserName")];

fn required_set(s: &Json) -> BTreeSet<&str> {
    s.get("required")
        .map(Json::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(Json::as_str)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Error codes.

fn error_codes(models: &[(&Service, Json)]) -> Result<String, String> {
    // code → (status, sender fault, source)
    let mut codes: Vec<(String, u16, bool, String)> = Vec::new();
    for (svc, model) in models {
        for (name, s) in model.get("shapes").map(Json::entries).unwrap_or_default() {
            if s.get("exception").and_then(Json::as_bool) != Some(true) {
                continue;
            }
            let err = s.get("error");
            let code = err
                .and_then(|e| e.str_at("code"))
                .unwrap_or(name)
                .to_owned();
            let status = err
                .and_then(|e| e.get("httpStatusCode"))
                .and_then(Json::as_i64)
                .unwrap_or(400);
            let status = u16::try_from(status).map_err(|e| e.to_string())?;
            let sender = err
                .and_then(|e| e.get("senderFault"))
                .and_then(Json::as_bool)
                .unwrap_or(status < 500);
            if let Some(existing) = codes.iter().find(|c| c.0 == code) {
                if (existing.1, existing.2) != (status, sender) {
                    return Err(format!("error code {code} has two statuses"));
                }
                continue;
            }
            codes.push((
                code,
                status,
                sender,
                format!("{} model, shape `{name}`", svc.module.to_uppercase()),
            ));
        }
    }
    for (code, status) in COMMON_ERRORS {
        if codes.iter().any(|c| c.0 == *code) {
            return Err(format!("common error {code} is also modelled"));
        }
        codes.push((
            (*code).to_owned(),
            *status,
            *status < 500,
            "AWS common errors".to_owned(),
        ));
    }
    let mut o = String::new();
    o.push_str(
        "// Auto generated by `cargo xtask codegen` from model/iam-2010-05-08.json and model/sts-2011-06-15.json — do not edit.\n\
         //! Every wire error code of IAM and STS: the models' error shapes (deduplicated by code) and\n\
         //! AWS's common errors.\n\n\
         /// A wire error code: the `<Code>` of an `<ErrorResponse>`, with its HTTP status and fault.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum ErrorCode {\n",
    );
    for (code, status, _, source) in &codes {
        let _ = writeln!(o, "    /// HTTP {status}; {source}.\n    {code},");
    }
    o.push_str("}\n\nimpl ErrorCode {\n    /// Every code.\n    pub const ALL: &'static [ErrorCode] = &[\n");
    for (code, ..) in &codes {
        let _ = writeln!(o, "        ErrorCode::{code},");
    }
    o.push_str("    ];\n\n    /// The wire code.\n    pub fn code(&self) -> &'static str {\n        match self {\n");
    for (code, ..) in &codes {
        let _ = writeln!(o, "            ErrorCode::{code} => {code:?},");
    }
    o.push_str("        }\n    }\n\n    /// The HTTP status the model gives (400 when it gives none).\n    pub fn http_status(&self) -> u16 {\n        match self {\n");
    for (code, status, ..) in &codes {
        let _ = writeln!(o, "            ErrorCode::{code} => {status},");
    }
    o.push_str("        }\n    }\n\n    /// `Sender` (the client's fault) or `Receiver` in `<Type>`.\n    pub fn is_sender_fault(&self) -> bool {\n        match self {\n");
    for (code, _, sender, _) in &codes {
        let _ = writeln!(o, "            ErrorCode::{code} => {sender},");
    }
    o.push_str("        }\n    }\n\n    /// The code for a wire code.\n    pub fn from_code(code: &str) -> Option<Self> {\n        match code {\n");
    for (code, ..) in &codes {
        let _ = writeln!(o, "            {code:?} => Some(ErrorCode::{code}),");
    }
    o.push_str("            _ => None,\n        }\n    }\n}\n");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("UserName"), "user_name");
        assert_eq!(
            snake("OpenIDConnectProviderArn"),
            "open_id_connect_provider_arn"
        );
        assert_eq!(snake("SAMLMetadataDocument"), "saml_metadata_document");
        assert_eq!(snake("ListMFADevices"), "list_mfa_devices");
        assert_eq!(snake("UploadSSHPublicKey"), "upload_ssh_public_key");
        assert_eq!(snake("v1Token"), "v1_token");
        assert_eq!(field_ident("Type"), "r#type");
        assert_eq!(lower_camel("UserName"), "userName");
        assert_eq!(type_ident("statusType"), "StatusType");
        assert_eq!(variant_ident("SERVICE_LEVEL"), "ServiceLevel");
        assert_eq!(variant_ident("aws-managed"), "AwsManaged");
        assert_eq!(variant_ident("explicitDeny"), "ExplicitDeny");
        assert_eq!(variant_ident("text/csv"), "TextCsv");
        assert_eq!(variant_ident("AWSManagedPolicy"), "AWSManagedPolicy");
    }

    #[test]
    fn patterns() {
        let t = |p: &str| translate_pattern(p).unwrap();
        assert_eq!(t(r"[\w+=,.@-]+").0, r"^(?:[0-9A-Za-z_+=,.@-]+)$");
        assert_eq!(t(r"\d{12}").0, r"^(?:[0-9]{12})$");
        assert_eq!(t(r"[\u0009\u000A]+").0, r"^(?:[\x{0009}\x{000A}]+)$");
        assert_eq!(
            t(r"[\uE000-\uFFFD\u10000-\u10FFFF]+").0,
            r"^(?:[\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}]+)$"
        );
        let (re, forbidden) = t(r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$");
        assert_eq!(forbidden, ["--"]);
        assert!(regex::Regex::new(&re).unwrap().is_match("ab-cd"));
    }

    /// The committed generated files are exactly what the models produce now.
    #[test]
    fn generated_files_are_up_to_date() {
        let root = crate::workspace_root();
        for (path, text) in generate_all(&root).unwrap() {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == text,
                "{} is stale: run `cargo xtask codegen` and commit the result",
                path.display()
            );
        }
    }
}
