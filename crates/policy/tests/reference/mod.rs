//! A deliberately simple reference evaluator for differential testing.
//!
//! Written from AWS's documentation (IAM User Guide: "Policy evaluation logic", "Determining
//! whether a request is allowed or denied within an account", "Cross-account policy evaluation
//! logic", "Condition operators", "Conditions with multiple context keys or values", "Variables
//! and tags", "NotPrincipal", "Permissions boundaries", "Session policies"; AWS Organizations:
//! SCP and RCP evaluation), not from the engine's code. It reads the policy JSON directly on
//! every request: no parsing into an AST, no compilation, no indexing.
//!
//! Where the documentation does not say what happens, the evaluator returns
//! [`Verdict::Undocumented`] and the differential test skips the case instead of guessing.

#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

/// The kinds of caller the reference knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    AssumedRole,
    FederatedUser,
    Root,
    Service,
    Anonymous,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub kind: Kind,
    /// The caller's own ARN (session ARN for role sessions; service name for services).
    pub arn: String,
    /// "" for services and anonymous callers.
    pub account: String,
    /// For role sessions: the role's ARN.
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Doc {
    pub id: String,
    pub doc: Value,
}

#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub identity: Vec<Doc>,
    pub boundary: Option<Doc>,
    pub session: Vec<Doc>,
    pub resource: Option<Doc>,
    /// The resource policy is a role trust policy (which must allow on its own).
    pub trust: bool,
    pub scps: Vec<Vec<Doc>>,
    pub rcps: Vec<Vec<Doc>>,
}

#[derive(Debug, Clone)]
pub struct Ask {
    pub caller: Caller,
    pub action: String,
    pub resource: String,
    /// None: the resource is in the caller's account.
    pub resource_account: Option<String>,
    /// Condition keys; a key maps to one or more values (a `Vec` of length 1 is a
    /// single-valued key unless `multi` says otherwise).
    pub context: Vec<(String, Vec<String>, bool)>,
    /// The friendly name of an IAM user caller (last part of its ARN); see [`Ask::new`].
    pub caller_name: String,
}

impl Ask {
    pub fn new(
        caller: Caller,
        action: String,
        resource: String,
        resource_account: Option<String>,
        context: Vec<(String, Vec<String>, bool)>,
    ) -> Self {
        let caller_name = caller
            .arn
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ask {
            caller,
            action,
            resource,
            resource_account,
            context,
            caller_name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

/// (policy id, sid, statement index)
pub type Hit = (String, Option<String>, usize);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Decided(Outcome, BTreeSet<Hit>),
    /// The documentation does not settle this case.
    Undocumented(&'static str),
}

/// Three-valued result of evaluating a piece of a statement.
type R<T> = Result<T, &'static str>;

// ------------------------------------------------------------------ wildcard matching

/// `*` matches any run (including empty), `?` exactly one character; `lit` marks characters
/// that came from `${*}`/`${?}` and are literal.
fn glob(pat: &[(char, bool)], text: &[char], fold: bool) -> bool {
    // Plain dynamic programming over (pattern position, text position).
    let (n, m) = (pat.len(), text.len());
    let mut dp = vec![vec![false; m + 1]; n + 1];
    dp[n][m] = true;
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            let (pc, lit) = pat[i];
            dp[i][j] = if pc == '*' && !lit {
                dp[i + 1][j] || (j < m && dp[i][j + 1])
            } else if j == m {
                false
            } else if pc == '?' && !lit {
                dp[i + 1][j + 1]
            } else {
                let eq = if fold {
                    pc.eq_ignore_ascii_case(&text[j])
                } else {
                    pc == text[j]
                };
                eq && dp[i + 1][j + 1]
            };
        }
    }
    dp[0][0]
}

fn plain(s: &str) -> Vec<(char, bool)> {
    s.chars().map(|c| (c, false)).collect()
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

// ------------------------------------------------------------------ variables

fn uses_variables(doc: &Value) -> bool {
    doc.get("Version").and_then(Value::as_str) == Some("2012-10-17")
}

fn lookup<'a>(ask: &'a Ask, key: &str) -> Option<(&'a [String], bool)> {
    let found = ask
        .context
        .iter()
        .find(|(k, _, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v, multi)| (v.as_slice(), *multi));
    // "Principal key values": for an IAM user, aws:username is the user's friendly name.
    if found.is_none() && key.eq_ignore_ascii_case("aws:username") && ask.caller.kind == Kind::User
    {
        return Some((std::slice::from_ref(&ask.caller_name), false));
    }
    found
}

/// Substitutes `${…}` in `text`. Returns None when a variable cannot be resolved (the element
/// then matches nothing). Characters produced by `${*}`, `${?}` and by substituted values are
/// literal.
fn substitute(text: &str, ask: &Ask, vars: bool) -> Option<Vec<(char, bool)>> {
    if !vars {
        return Some(plain(text));
    }
    let mut out = Vec::new();
    let cs: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        if cs[i] == '$'
            && cs.get(i + 1) == Some(&'{')
            && let Some(end) = cs[i + 2..].iter().position(|&c| c == '}')
        {
            let inner: String = cs[i + 2..i + 2 + end].iter().collect();
            i += end + 3;
            match inner.as_str() {
                "*" => out.push(('*', true)),
                "?" => out.push(('?', true)),
                "$" => out.push(('$', true)),
                _ => {
                    let (key, default) = match inner.split_once(", '") {
                        Some((k, d)) if d.ends_with('\'') => {
                            (k.to_string(), Some(d[..d.len() - 1].to_string()))
                        }
                        _ => (inner.clone(), None),
                    };
                    let value = match lookup(ask, &key) {
                        Some((vals, false)) if vals.len() == 1 => vals[0].clone(),
                        _ => default?,
                    };
                    out.extend(value.chars().map(|c| (c, true)));
                }
            }
            continue;
        }
        out.push((cs[i], false));
        i += 1;
    }
    Some(out)
}

// ------------------------------------------------------------------ statement elements

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn action_applies(st: &Value, action: &str) -> bool {
    let text = chars(action);
    if let Some(a) = st.get("Action") {
        strings(a).iter().any(|p| glob(&plain(p), &text, true))
    } else if let Some(a) = st.get("NotAction") {
        !strings(a).iter().any(|p| glob(&plain(p), &text, true))
    } else {
        false
    }
}

fn resource_applies(st: &Value, ask: &Ask, vars: bool) -> bool {
    let text = chars(&ask.resource);
    let any = |v: &Value| {
        strings(v).iter().any(|p| {
            if p == "*" {
                return true;
            }
            substitute(p, ask, vars).is_some_and(|pat| glob(&pat, &text, false))
        })
    };
    if let Some(r) = st.get("Resource") {
        any(r)
    } else if let Some(r) = st.get("NotResource") {
        !any(r)
    } else {
        true // trust policies have no Resource element
    }
}

/// How a Principal element names the caller (the strongest way wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Naming {
    /// The caller's account: delegation to its identity-based policies.
    Account,
    /// `*` / `{"AWS": "*"}` / everyone-but (NotPrincipal with Allow).
    Everyone,
    /// The role of a role session.
    Role,
    /// The service of a service principal.
    Service,
    /// The caller's own ARN (user, role session, federated user).
    Itself,
}

fn is_account_form(s: &str) -> Option<String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(s.to_string());
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5] == "root" {
        return Some(parts[4].to_string());
    }
    None
}

fn iam_caller(c: &Caller) -> bool {
    matches!(
        c.kind,
        Kind::User | Kind::AssumedRole | Kind::FederatedUser | Kind::Root
    )
}

fn naming(p: &Value, c: &Caller) -> Option<Naming> {
    let mut best = None;
    let mut take = |n: Naming| best = best.max(Some(n));
    match p {
        Value::String(s) if s == "*" => take(Naming::Everyone),
        Value::Object(m) => {
            for (k, v) in m {
                for s in strings(v) {
                    match k.as_str() {
                        "AWS" => {
                            if s == "*" {
                                take(Naming::Everyone);
                            } else if !iam_caller(c) {
                            } else if let Some(acct) = is_account_form(&s) {
                                if acct == c.account {
                                    take(Naming::Account);
                                }
                            } else if s == c.arn {
                                take(Naming::Itself);
                            } else if c.role_arn.as_deref() == Some(s.as_str()) {
                                take(Naming::Role);
                            }
                        }
                        "Service" if c.kind == Kind::Service && s == c.arn => {
                            take(Naming::Service);
                        }
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
    best
}

/// For NotPrincipal: which of the caller's identities are listed.
fn listed(p: &Value, c: &Caller) -> (bool, bool, bool, bool) {
    // (everyone listed, own arn listed, role listed, account listed)
    let mut out = (false, false, false, false);
    if p.as_str() == Some("*") {
        out.0 = true;
    }
    if let Value::Object(m) = p {
        for (k, v) in m {
            for s in strings(v) {
                match k.as_str() {
                    "AWS" if s == "*" => out.0 = true,
                    "AWS" if iam_caller(c) => {
                        if let Some(acct) = is_account_form(&s) {
                            if acct == c.account {
                                out.3 = true;
                                if c.kind == Kind::Root {
                                    out.1 = true;
                                }
                            }
                        } else if s == c.arn {
                            out.1 = true;
                        } else if c.role_arn.as_deref() == Some(s.as_str()) {
                            out.2 = true;
                        }
                    }
                    "Service" if c.kind == Kind::Service && s == c.arn => out.1 = true,
                    _ => {}
                }
            }
        }
    }
    out
}

/// Whether the statement's Principal/NotPrincipal covers the caller, and how.
/// Ok(None): not covered. Ok(Some(None)): covered, statement has no principal element.
fn principal_applies(
    st: &Value,
    c: &Caller,
    effect_deny: bool,
    has_boundary: bool,
) -> R<Option<Option<Naming>>> {
    if let Some(p) = st.get("Principal") {
        return Ok(naming(p, c).map(Some));
    }
    if let Some(p) = st.get("NotPrincipal") {
        // Permissions boundaries (Important): a Deny with NotPrincipal always denies an IAM
        // principal that has a boundary.
        if effect_deny && has_boundary && matches!(c.kind, Kind::User | Kind::AssumedRole) {
            return Ok(Some(Some(Naming::Everyone)));
        }
        let (all, own, role, acct) = listed(p, c);
        if all {
            return Ok(None);
        }
        let excluded = match c.kind {
            Kind::Root => acct,
            // Deny: "all principals except the ones named", listing the account ARN of the
            // not-denied user as the docs require; another user of a listed account is still
            // denied. Allow: "allows all principals except the one named".
            Kind::User | Kind::FederatedUser if effect_deny => {
                if own && acct {
                    true
                } else if !own {
                    false
                } else {
                    return Err("NotPrincipal names the user but not its account");
                }
            }
            Kind::User | Kind::FederatedUser => {
                if own {
                    true
                } else if !acct {
                    false
                } else {
                    return Err("NotPrincipal with Allow names only the user's account");
                }
            }
            Kind::AssumedRole => {
                if own && role && acct {
                    true
                } else if !own && !role && !acct {
                    false
                } else if !own && role && acct && effect_deny {
                    // "Principals must always name a specific session."
                    false
                } else {
                    return Err("NotPrincipal lists only part of a session's identities");
                }
            }
            Kind::Service => own,
            Kind::Anonymous => false,
        };
        return Ok(if excluded {
            None
        } else {
            Some(Some(Naming::Everyone))
        });
    }
    Ok(Some(None))
}

// ------------------------------------------------------------------ conditions

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    Str,
    StrIc,
    Like,
    Num,
    Date,
    Bool,
    Bin,
    Ip,
    Arn,
}

fn parse_date(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    // W3C ISO 8601 profile: YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm).
    // Fractions are dropped (the generator and the corpus only use whole seconds or .000/.500,
    // and no comparison here depends on sub-second order).
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (h, mi, se, offset) = if s.len() == 10 {
        (0, 0, 0, 0)
    } else {
        if b.get(10) != Some(&b'T') || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return None;
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut rest = s.get(19..)?;
        if let Some(r) = rest.strip_prefix('.') {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            rest = &r[digits..];
        }
        let offset = match rest.as_bytes() {
            [b'Z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let oh: i64 = rest.get(1..3)?.parse().ok()?;
                let om: i64 = rest.get(4..6)?.parse().ok()?;
                let o = oh * 3600 + om * 60;
                if *sign == b'+' { o } else { -o }
            }
            _ => return None,
        };
        (h, mi, se, offset)
    };
    // days from 1970-01-01 (proleptic Gregorian)
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Whether `req` is inside the CIDR range (or single address) `policy`. None when either side
/// is not an address: what AWS does then is not documented.
fn ip_in(policy: &str, req: &str) -> Option<bool> {
    use std::net::IpAddr;
    let (addr, len) = match policy.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
        None => (policy, None),
    };
    let p: IpAddr = addr.parse().ok()?;
    let r: IpAddr = req.parse().ok()?;
    match (p, r) {
        (IpAddr::V4(p), IpAddr::V4(r)) => {
            let len = len.unwrap_or(32);
            if len > 32 {
                return None;
            }
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Some(u32::from(p) & mask == u32::from(r) & mask)
        }
        (IpAddr::V6(p), IpAddr::V6(r)) => {
            let len = len.unwrap_or(128);
            if len > 128 {
                return None;
            }
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            Some(u128::from(p) & mask == u128::from(r) & mask)
        }
        // An IPv4 address is never inside an IPv6 range, nor the other way round.
        _ => Some(false),
    }
}

fn arn_like(pat: &[(char, bool)], text: &str) -> bool {
    // Split both into 6 colon-delimited parts (the sixth keeps its colons).
    let split_pat = {
        let mut parts: Vec<Vec<(char, bool)>> = vec![Vec::new()];
        for &(c, lit) in pat {
            if c == ':' && parts.len() < 6 {
                parts.push(Vec::new());
            } else if let Some(last) = parts.last_mut() {
                last.push((c, lit));
            }
        }
        parts
    };
    let split_text: Vec<&str> = text.splitn(6, ':').collect();
    if split_pat.len() != 6 || split_text.len() != 6 {
        return false;
    }
    split_pat
        .iter()
        .zip(&split_text)
        .all(|(p, t)| glob(p, &chars(t), false))
}

/// One comparison of a request value against one policy value (already substituted).
fn compare(fam: Fam, pol: &[(char, bool)], req: &str) -> R<bool> {
    let ptext: String = pol.iter().map(|&(c, _)| c).collect();
    Ok(match fam {
        Fam::Str => ptext == req,
        Fam::StrIc => ptext.to_lowercase() == req.to_lowercase(),
        Fam::Like => glob(pol, &chars(req), false),
        Fam::Arn => arn_like(pol, req),
        Fam::Bin => ptext == req,
        Fam::Bool => ptext.eq_ignore_ascii_case(req),
        Fam::Ip => ip_in(&ptext, req).ok_or("unparsable IP")?,
        Fam::Num | Fam::Date => unreachable!(),
    })
}

#[derive(Clone, Copy)]
enum Ord3 {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn cond_block(st: &Value, ask: &Ask, vars: bool) -> R<bool> {
    let Some(block) = st.get("Condition") else {
        return Ok(true);
    };
    let Value::Object(ops) = block else {
        return Err("malformed condition");
    };
    let mut all = true;
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            return Err("malformed condition");
        };
        for (key, values) in keys {
            all &= condition(op, key, values, ask, vars)?;
        }
    }
    Ok(all)
}

fn condition(op: &str, key: &str, values: &Value, ask: &Ask, vars: bool) -> R<bool> {
    let (set, rest) = if let Some(r) = op.strip_prefix("ForAllValues:") {
        (Some(true), r)
    } else if let Some(r) = op.strip_prefix("ForAnyValue:") {
        (Some(false), r)
    } else {
        (None, op)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let policy_values = strings(values);
    let present = lookup(ask, key);

    if base == "Null" {
        if set.is_some() || if_exists {
            return Err("qualified Null");
        }
        let want_absent = match policy_values.as_slice() {
            [v] if v == "true" => true,
            [v] if v == "false" => false,
            _ => return Err("Null value"),
        };
        return match present {
            None => Ok(want_absent),
            Some(([], _)) => Err("Null on an empty set"),
            Some(_) => Ok(!want_absent),
        };
    }

    let (fam, negated, ord) = match base {
        "StringEquals" => (Fam::Str, false, None),
        "StringNotEquals" => (Fam::Str, true, None),
        "StringEqualsIgnoreCase" => (Fam::StrIc, false, None),
        "StringNotEqualsIgnoreCase" => (Fam::StrIc, true, None),
        "StringLike" => (Fam::Like, false, None),
        "StringNotLike" => (Fam::Like, true, None),
        "NumericEquals" => (Fam::Num, false, Some(Ord3::Eq)),
        "NumericNotEquals" => (Fam::Num, true, Some(Ord3::Ne)),
        "NumericLessThan" => (Fam::Num, false, Some(Ord3::Lt)),
        "NumericLessThanEquals" => (Fam::Num, false, Some(Ord3::Le)),
        "NumericGreaterThan" => (Fam::Num, false, Some(Ord3::Gt)),
        "NumericGreaterThanEquals" => (Fam::Num, false, Some(Ord3::Ge)),
        "DateEquals" => (Fam::Date, false, Some(Ord3::Eq)),
        "DateNotEquals" => (Fam::Date, true, Some(Ord3::Ne)),
        "DateLessThan" => (Fam::Date, false, Some(Ord3::Lt)),
        "DateLessThanEquals" => (Fam::Date, false, Some(Ord3::Le)),
        "DateGreaterThan" => (Fam::Date, false, Some(Ord3::Gt)),
        "DateGreaterThanEquals" => (Fam::Date, false, Some(Ord3::Ge)),
        "Bool" => (Fam::Bool, false, None),
        "BinaryEquals" => (Fam::Bin, false, None),
        "IpAddress" => (Fam::Ip, false, None),
        "NotIpAddress" => (Fam::Ip, true, None),
        "ArnEquals" | "ArnLike" => (Fam::Arn, false, None),
        "ArnNotEquals" | "ArnNotLike" => (Fam::Arn, true, None),
        _ => return Err("unknown operator"),
    };
    if set.is_some() && if_exists {
        return Err("set operator with IfExists");
    }
    // Variables are substituted only in string and ARN operators.
    let subst_ok = matches!(fam, Fam::Str | Fam::StrIc | Fam::Like | Fam::Arn);
    let pats: Vec<Option<Vec<(char, bool)>>> = policy_values
        .iter()
        .map(|v| {
            if subst_ok {
                substitute(v, ask, vars)
            } else {
                Some(plain(v))
            }
        })
        .collect();

    // Does one request value satisfy the (non-negated) operator for some policy value?
    let positive = |req: &str| -> R<bool> {
        let mut any = false;
        for p in &pats {
            let Some(p) = p else { continue }; // unresolvable variable: that value never matches
            let hit = match (fam, ord) {
                (Fam::Num, Some(o)) | (Fam::Date, Some(o)) => {
                    let ptext: String = p.iter().map(|&(c, _)| c).collect();
                    let parse = |s: &str| -> Option<f64> {
                        if fam == Fam::Num {
                            s.parse::<f64>().ok().filter(|f| f.is_finite())
                        } else {
                            parse_date(s).map(|d| d as f64)
                        }
                    };
                    let (Some(a), Some(b)) = (parse(req), parse(&ptext)) else {
                        return Err("unparsable number or date");
                    };
                    match o {
                        Ord3::Eq | Ord3::Ne => a == b,
                        Ord3::Lt => a < b,
                        Ord3::Le => a <= b,
                        Ord3::Gt => a > b,
                        Ord3::Ge => a >= b,
                    }
                }
                _ => compare(fam, p, req)?,
            };
            any |= hit;
        }
        Ok(any)
    };
    // A negated operator is true when no policy value matches (NOR).
    let one = |req: &str| -> R<bool> { Ok(positive(req)? != negated) };

    match (set, present) {
        (Some(all), None) => Ok(all),
        (Some(all), Some((vals, _))) => {
            if vals.is_empty() {
                return Ok(all);
            }
            let mut results = Vec::new();
            for v in vals {
                results.push(one(v)?);
            }
            Ok(if all {
                results.iter().all(|&b| b)
            } else {
                results.iter().any(|&b| b)
            })
        }
        (None, None) => Ok(if_exists || negated),
        (None, Some((vals, multi))) => {
            if multi || vals.len() != 1 {
                return Err("plain operator on a multivalued key");
            }
            one(&vals[0])
        }
    }
}

// ------------------------------------------------------------------ the flowchart

struct Tally {
    allows: Vec<(Hit, Option<Naming>)>,
    denies: Vec<Hit>,
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

fn scan(d: &Doc, ask: &Ask, has_boundary: bool) -> R<Tally> {
    let vars = uses_variables(&d.doc);
    let mut t = Tally {
        allows: Vec::new(),
        denies: Vec::new(),
    };
    for (i, st) in statements(&d.doc).into_iter().enumerate() {
        let deny = st.get("Effect").and_then(Value::as_str) == Some("Deny");
        if !action_applies(st, &ask.action) || !resource_applies(st, ask, vars) {
            continue;
        }
        let Some(naming) = principal_applies(st, &ask.caller, deny, has_boundary)? else {
            continue;
        };
        if !cond_block(st, ask, vars)? {
            continue;
        }
        let hit = (
            d.id.clone(),
            st.get("Sid").and_then(Value::as_str).map(str::to_string),
            i,
        );
        if deny {
            t.denies.push(hit);
        } else {
            t.allows.push((hit, naming));
        }
    }
    Ok(t)
}

/// Decides `ask` against `pol` following AWS's documented flowchart.
pub fn evaluate(pol: &Policies, ask: &Ask) -> Verdict {
    match evaluate_inner(pol, ask) {
        Ok(v) => v,
        Err(why) => Verdict::Undocumented(why),
    }
}

fn evaluate_inner(pol: &Policies, ask: &Ask) -> R<Verdict> {
    let c = &ask.caller;
    let iam = matches!(c.kind, Kind::User | Kind::AssumedRole | Kind::FederatedUser);
    let has_boundary = iam && pol.boundary.is_some();

    // Which policies apply to this request at all.
    let scps_apply = iam || c.kind == Kind::Root;
    let mut all_denies = Vec::new();
    let mut all_allows = Vec::new();

    let level_ok =
        |levels: &[Vec<Doc>], all_denies: &mut Vec<Hit>, all_allows: &mut Vec<Hit>| -> R<bool> {
            let mut ok = true;
            for level in levels {
                let mut level_allows = false;
                for d in level {
                    let t = scan(d, ask, has_boundary)?;
                    level_allows |= !t.allows.is_empty();
                    all_denies.extend(t.denies);
                    all_allows.extend(t.allows.into_iter().map(|(h, _)| h));
                }
                ok &= level_allows;
            }
            Ok(ok)
        };
    let scp_ok = if scps_apply {
        level_ok(&pol.scps, &mut all_denies, &mut all_allows)?
    } else {
        true
    };
    let rcp_ok = level_ok(&pol.rcps, &mut all_denies, &mut all_allows)?;

    let group = |docs: &[Doc]| -> R<(bool, Vec<Hit>, Vec<Hit>)> {
        let (mut allow, mut a, mut dn) = (false, Vec::new(), Vec::new());
        for d in docs {
            let t = scan(d, ask, has_boundary)?;
            allow |= !t.allows.is_empty();
            a.extend(t.allows.into_iter().map(|(h, _)| h));
            dn.extend(t.denies);
        }
        Ok((allow, a, dn))
    };

    // Resource-based policy: how strongly it names the caller.
    let mut resource_naming: Option<Naming> = None;
    if let Some(r) = &pol.resource {
        let t = scan(r, ask, has_boundary)?;
        for (h, n) in t.allows {
            let n = n.ok_or("resource statement without Principal")?;
            resource_naming = resource_naming.max(Some(n));
            all_allows.push(h);
        }
        all_denies.extend(t.denies);
    }

    let (mut identity_ok, mut boundary_ok, mut session_ok) = (false, true, true);
    if iam {
        let (ok, a, d) = group(&pol.identity)?;
        identity_ok = ok;
        all_allows.extend(a);
        all_denies.extend(d);
        if let Some(b) = &pol.boundary {
            let (ok, a, d) = group(std::slice::from_ref(b))?;
            boundary_ok = ok;
            all_allows.extend(a);
            all_denies.extend(d);
        }
        if !pol.session.is_empty() {
            let (ok, a, d) = group(&pol.session)?;
            session_ok = ok;
            all_allows.extend(a);
            all_denies.extend(d);
        } else if c.kind == Kind::FederatedUser {
            // GetFederationToken without a session policy: no permissions.
            session_ok = false;
        }
    }

    // 1. Deny evaluation.
    if !all_denies.is_empty() {
        return Ok(Verdict::Decided(
            Outcome::ExplicitDeny,
            all_denies.into_iter().collect(),
        ));
    }
    // 2. RCPs and SCPs.
    if !scp_ok || !rcp_ok {
        return Ok(Verdict::Decided(Outcome::ImplicitDeny, BTreeSet::new()));
    }
    let cross = match (&ask.resource_account, c.kind) {
        (_, Kind::Service | Kind::Anonymous) => false,
        (Some(a), _) => *a != c.account,
        (None, _) => false,
    };
    let identity_path = identity_ok && boundary_ok && session_ok;
    let allowed = match c.kind {
        // The root user cannot assume roles; what a trust policy means for it is not documented.
        Kind::Root if pol.trust => return Err("root user and a role trust policy"),
        Kind::Root => !cross || resource_naming.is_some(),
        Kind::Service => match resource_naming {
            Some(Naming::Service) => true,
            Some(Naming::Everyone) => return Err("wildcard grant to a service principal"),
            _ => false,
        },
        Kind::Anonymous => resource_naming == Some(Naming::Everyone),
        _ if cross => resource_naming.is_some() && identity_path,
        _ => {
            // Same account, IAM caller.
            let limited = boundary_ok && session_ok;
            let via_resource = match resource_naming {
                None => false,
                Some(Naming::Itself) => true,
                Some(Naming::Role) => limited,
                Some(Naming::Account) => identity_path,
                Some(Naming::Everyone) => {
                    if has_boundary || !pol.session.is_empty() || c.kind == Kind::FederatedUser {
                        return Err("wildcard resource grant with a boundary or session policy");
                    }
                    true
                }
                Some(Naming::Service) => false,
            };
            // Role trust policies and KMS key policies must allow on their own.
            let must_allow = pol.trust
                || ask
                    .action
                    .split(':')
                    .next()
                    .is_some_and(|s| s.eq_ignore_ascii_case("kms"));
            if must_allow {
                via_resource
            } else {
                via_resource || identity_path
            }
        }
    };
    Ok(if allowed {
        Verdict::Decided(Outcome::Allowed, all_allows.into_iter().collect())
    } else {
        Verdict::Decided(Outcome::ImplicitDeny, BTreeSet::new())
    })
}
