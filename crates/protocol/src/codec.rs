//! Runtime for the generated code: Query decoding with validation, XML encoding, base64.
//!
//! Generated shapes call these helpers with their model constraints; nothing here knows about a
//! particular operation.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use gatehouse_types::{Timestamp, parse_iso8601};
use regex::Regex;

use crate::error::ApiError;
use crate::query::QueryParams;
use crate::xml::escape_into;

// ---------------------------------------------------------------------------------------------
// Public traits the generated shapes implement.

/// An operation input decoded from Query parameters.
///
/// Parameters the input does not define are ignored, as AWS's IAM and STS endpoints do (and
/// moto): SDKs never send them, and rejecting them would break clients that add presigning or
/// legacy keys (`X-Amz-*`, `AWSAccessKeyId`, `SignatureVersion`, …). EC2's Query dialect answers
/// `UnknownParameter` instead; IAM and STS do not. [`DecodeQuery::decode_query_reporting`]
/// returns them for logging or a strict mode.
pub trait DecodeQuery: Sized {
    /// Reads this input's members under `at` (generated).
    fn decode_fields(d: &mut Decoder<'_>, at: &Field) -> Option<Self>;

    /// Decodes and validates `params`. Every constraint violation is collected into one
    /// `ValidationError`.
    fn decode_query(params: &QueryParams) -> Result<Self, ApiError> {
        Self::decode_query_reporting(params).map(|(v, _)| v)
    }

    /// [`DecodeQuery::decode_query`], also returning the keys it did not read (`Action` and
    /// `Version` excepted), in key order.
    fn decode_query_reporting(params: &QueryParams) -> Result<(Self, Vec<String>), ApiError> {
        let mut d = Decoder::new(params);
        let value = Self::decode_fields(&mut d, &Field::root());
        match value {
            Some(v) if d.violations.is_empty() => {
                let unknown = d.unconsumed().into_iter().map(str::to_owned).collect();
                Ok((v, unknown))
            }
            _ if d.violations.is_empty() => Err(ApiError::internal()),
            _ => Err(ApiError::validation(&d.violations)),
        }
    }
}

/// A structure that writes its members as XML elements, in model order.
pub trait EncodeXml {
    fn encode_members(&self, w: &mut XmlWriter);
}

/// A string enum from the model.
pub trait WireEnum: Sized + Copy + 'static {
    /// The wire values in model order.
    const VALUES: &'static [&'static str];
    fn as_str(self) -> &'static str;
    fn from_wire(s: &str) -> Option<Self>;
}

/// The value passed to `FromStr` was not one of the enum's wire values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value '{0}'")]
pub struct UnknownEnumValue(pub String);

/// Defines a string enum with its wire values.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
            pub fn from_wire(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
        impl $crate::codec::WireEnum for $name {
            const VALUES: &'static [&'static str] = &[$($wire),+];
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn from_wire(s: &str) -> Option<Self> {
                $name::from_wire(s)
            }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $name {
            type Err = $crate::codec::UnknownEnumValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::from_wire(s).ok_or_else(|| $crate::codec::UnknownEnumValue(s.to_owned()))
            }
        }
        impl $crate::codec::XmlValue for $name {
            fn write_xml(&self, w: &mut $crate::codec::XmlWriter) {
                w.text(self.as_str());
            }
        }
    };
}
pub(crate) use wire_enum;

// ---------------------------------------------------------------------------------------------
// Constraints.

/// A `pattern` from the model: the model's (Java) text for messages and a translation the
/// `regex` crate accepts, compiled on first use.
pub struct Pattern {
    /// As written in the model; quoted in validation messages.
    pub source: &'static str,
    /// Anchored translation for the `regex` crate (xtask checks that it compiles).
    pub regex: &'static str,
    /// Substrings the value must not contain: what a Java lookahead such as `-(?!-)` expressed,
    /// which the `regex` crate has no syntax for.
    pub forbidden: &'static [&'static str],
    compiled: OnceLock<Option<Regex>>,
}

impl Pattern {
    pub const fn new(
        source: &'static str,
        regex: &'static str,
        forbidden: &'static [&'static str],
    ) -> Self {
        Pattern {
            source,
            regex,
            forbidden,
            compiled: OnceLock::new(),
        }
    }

    pub fn compiled(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| Regex::new(self.regex).ok())
            .as_ref()
    }

    /// Whether `value` matches. A translation that does not compile (xtask and a unit test
    /// make sure none does) accepts everything rather than rejecting every request.
    pub fn matches(&self, value: &str) -> bool {
        let regex_ok = self.compiled().is_none_or(|re| re.is_match(value));
        regex_ok && !self.forbidden.iter().any(|f| value.contains(f))
    }
}

/// Constraints of a string shape.
pub struct StrRules {
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub pattern: Option<&'static Pattern>,
    /// A secret (a password, a private key, a token): never quoted in validation messages.
    pub sensitive: bool,
}

/// For strings without constraints.
pub static NO_RULES: StrRules = StrRules {
    min: None,
    max: None,
    pattern: None,
    sensitive: false,
};

// ---------------------------------------------------------------------------------------------
// Decoding.

/// Where a value lives: its parameter key (`Tags.member.1.Key`) and its path in validation
/// messages (`tags.1.member.key`).
#[derive(Debug, Clone, Default)]
pub struct Field {
    pub key: String,
    pub path: String,
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

impl Field {
    pub fn root() -> Self {
        Field::default()
    }
    /// A structure member: `wire` is its parameter name, `camel` its name in messages.
    pub fn member(&self, wire: &str, camel: &str) -> Field {
        Field {
            key: join(&self.key, wire),
            path: join(&self.path, camel),
        }
    }
}

/// Collects values and violations while generated code walks an input shape.
pub struct Decoder<'a> {
    params: &'a QueryParams,
    consumed: BTreeSet<&'a str>,
    violations: Vec<String>,
    /// Keys of secret values, which violations must not quote.
    sensitive_fields: BTreeSet<String>,
}

impl<'a> Decoder<'a> {
    pub fn new(params: &'a QueryParams) -> Self {
        Decoder {
            params,
            consumed: BTreeSet::new(),
            violations: Vec::new(),
            sensitive_fields: BTreeSet::new(),
        }
    }

    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Parameters never read, except `Action` and `Version`.
    pub fn unconsumed(&self) -> Vec<&'a str> {
        self.params
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !self.consumed.contains(k) && *k != "Action" && *k != "Version")
            .collect()
    }

    /// Records AWS's `Value '<value>' at '<path>' failed to satisfy constraint: <constraint>`:
    /// the value quoted as sent, `null` when it is missing, and left out when it is a secret
    /// or not a single parameter (a list or a structure).
    pub fn violation(&mut self, field: &Field, constraint: impl fmt::Display) {
        let value = if self.sensitive_fields.contains(&field.key) {
            String::new()
        } else {
            match self.params.get(&field.key) {
                Some(raw) => format!(" '{raw}'"),
                None if !self.params.has_prefix(&format!("{}.", field.key)) => " null".to_owned(),
                None => String::new(),
            }
        };
        self.violations.push(format!(
            "Value{value} at '{}' failed to satisfy constraint: {constraint}",
            field.path
        ));
    }

    /// The raw value of `field`'s key, marking it consumed.
    fn take(&mut self, field: &Field) -> Option<&'a str> {
        let (key, value) = self.params.get_key_value(&field.key)?;
        self.consumed.insert(key);
        Some(value)
    }

    /// Turns an absent required value into `Member must not be null`. A value that was sent
    /// but could not be decoded has its own violation already.
    pub fn require<T>(&mut self, value: Option<T>, field: &Field) -> Option<T> {
        if value.is_none() && !self.is_present(field) {
            self.violation(field, "Member must not be null");
        }
        value
    }

    fn is_present(&self, field: &Field) -> bool {
        self.params.get(&field.key).is_some() || self.params.has_prefix(&format!("{}.", field.key))
    }

    fn check_length(&mut self, field: &Field, len: u64, min: Option<u64>, max: Option<u64>) {
        if let Some(min) = min
            && len < min
        {
            self.violation(
                field,
                format_args!("Member must have length greater than or equal to {min}"),
            );
        }
        if let Some(max) = max
            && len > max
        {
            self.violation(
                field,
                format_args!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub fn string(&mut self, field: &Field, rules: &StrRules) -> Option<String> {
        if rules.sensitive {
            self.sensitive_fields.insert(field.key.clone());
        }
        let raw = self.take(field)?;
        // Lengths count UTF-16 code units, as the (Java) service does.
        let len = raw.encode_utf16().count() as u64;
        self.check_length(field, len, rules.min, rules.max);
        if let Some(p) = rules.pattern
            && !p.matches(raw)
        {
            self.violation(
                field,
                format_args!(
                    "Member must satisfy regular expression pattern: {}",
                    p.source
                ),
            );
        }
        Some(raw.to_owned())
    }

    pub fn enumeration<E: WireEnum>(&mut self, field: &Field) -> Option<E> {
        let raw = self.take(field)?;
        let value = E::from_wire(raw);
        if value.is_none() {
            self.violation(
                field,
                format_args!(
                    "Member must satisfy enum value set: [{}]",
                    E::VALUES.join(", ")
                ),
            );
        }
        value
    }

    fn number(&mut self, field: &Field, min: Option<i64>, max: Option<i64>) -> Option<i64> {
        let raw = self.take(field)?;
        let Ok(n) = raw.trim().parse::<i64>() else {
            self.violation(field, "Member must be a number");
            return None;
        };
        if let Some(min) = min
            && n < min
        {
            self.violation(
                field,
                format_args!("Member must have value greater than or equal to {min}"),
            );
        }
        if let Some(max) = max
            && n > max
        {
            self.violation(
                field,
                format_args!("Member must have value less than or equal to {max}"),
            );
        }
        Some(n)
    }

    pub fn integer(&mut self, field: &Field, min: Option<i64>, max: Option<i64>) -> Option<i32> {
        let n = self.number(field, min, max)?;
        match i32::try_from(n) {
            Ok(v) => Some(v),
            Err(_) => {
                self.violation(field, "Member must be a number");
                None
            }
        }
    }

    pub fn long(&mut self, field: &Field, min: Option<i64>, max: Option<i64>) -> Option<i64> {
        self.number(field, min, max)
    }

    pub fn boolean(&mut self, field: &Field) -> Option<bool> {
        let raw = self.take(field)?;
        // Case-insensitive, like Java's `Boolean.parseBoolean` on the service side.
        match raw {
            _ if raw.eq_ignore_ascii_case("true") => Some(true),
            _ if raw.eq_ignore_ascii_case("false") => Some(false),
            _ => {
                self.violation(field, "Member must be a boolean (true or false)");
                None
            }
        }
    }

    pub fn timestamp(&mut self, field: &Field) -> Option<Timestamp> {
        let raw = self.take(field)?;
        let value = parse_iso8601(raw);
        if value.is_none() {
            self.violation(field, "Member must be a timestamp in ISO 8601 format");
        }
        value
    }

    pub fn blob(&mut self, field: &Field, min: Option<u64>, max: Option<u64>) -> Option<Vec<u8>> {
        let raw = self.take(field)?;
        let Some(bytes) = base64_decode(raw) else {
            self.violation(field, "Member must be base64-encoded");
            return None;
        };
        self.check_length(field, bytes.len() as u64, min, max);
        Some(bytes)
    }

    /// A nested structure, present when any key starts with `Key.`.
    pub fn structure<T>(
        &mut self,
        field: &Field,
        decode: impl FnOnce(&mut Self, &Field) -> Option<T>,
    ) -> Option<T> {
        let prefix = format!("{}.", field.key);
        if !self.params.has_prefix(&prefix) {
            return None;
        }
        decode(self, field)
    }

    /// A list: `Key.member.1`, `Key.member.2`, … (`Key.1`, … when `flattened`), read while the
    /// indexes are contiguous from 1. `Key=` with an empty value is the empty list.
    pub fn list<T>(
        &mut self,
        field: &Field,
        member: &str,
        flattened: bool,
        min: Option<u64>,
        max: Option<u64>,
        mut item: impl FnMut(&mut Self, &Field) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut items = Vec::new();
        let mut found = false;
        for n in 1usize.. {
            let key = if flattened {
                format!("{}.{n}", field.key)
            } else {
                format!("{}.{member}.{n}", field.key)
            };
            if self.params.get(&key).is_none() && !self.params.has_prefix(&format!("{key}.")) {
                break;
            }
            found = true;
            let element = Field {
                key,
                path: format!("{}.{n}.member", field.path),
            };
            if let Some(v) = item(self, &element) {
                items.push(v);
            }
        }
        if !found {
            // An empty list is sent as `Key=` (botocore does this).
            if self.params.get(&field.key) == Some("") {
                self.take(field);
            } else {
                return None;
            }
        }
        self.check_length(field, items.len() as u64, min, max);
        Some(items)
    }

    /// A map: `Key.entry.N.key` / `Key.entry.N.value` (names from the model's `locationName`).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per generated map member, names from the model"
    )]
    pub fn map<K, V>(
        &mut self,
        field: &Field,
        key_name: &str,
        value_name: &str,
        flattened: bool,
        min: Option<u64>,
        max: Option<u64>,
        mut key: impl FnMut(&mut Self, &Field) -> Option<K>,
        mut value: impl FnMut(&mut Self, &Field) -> Option<V>,
    ) -> Option<Vec<(K, V)>> {
        let mut entries = Vec::new();
        let mut found = false;
        for n in 1usize.. {
            let entry = if flattened {
                format!("{}.{n}", field.key)
            } else {
                format!("{}.entry.{n}", field.key)
            };
            if !self.params.has_prefix(&format!("{entry}.")) {
                break;
            }
            found = true;
            let entry = Field {
                key: entry,
                path: format!("{}.entry.{n}", field.path),
            };
            let kf = entry.member(key_name, "key");
            let vf = entry.member(value_name, "value");
            let k = key(self, &kf);
            let k = self.require(k, &kf);
            let v = value(self, &vf);
            let v = self.require(v, &vf);
            if let (Some(k), Some(v)) = (k, v) {
                entries.push((k, v));
            }
        }
        if !found {
            if self.params.get(&field.key) == Some("") {
                self.take(field);
            } else {
                return None;
            }
        }
        self.check_length(field, entries.len() as u64, min, max);
        Some(entries)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

/// Writes XML elements into a string.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

/// A value that can be the content of an element.
pub trait XmlValue {
    fn write_xml(&self, w: &mut XmlWriter);
}

impl XmlWriter {
    /// Room for a typical response, so writing one does not grow the buffer again and again.
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(1024),
        }
    }
    pub fn into_string(self) -> String {
        self.out
    }
    /// Escaped text.
    pub fn text(&mut self, s: &str) {
        escape_into(&mut self.out, s);
    }
    /// Raw markup; `s` must be well-formed.
    pub fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }
    pub fn start(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }
    pub fn end(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
    /// `<name>value</name>`
    pub fn element<T: XmlValue + ?Sized>(&mut self, name: &str, value: &T) {
        self.start(name);
        value.write_xml(self);
        self.end(name);
    }
    /// A member the model calls required: written unless empty, as AWS leaves out members it
    /// has no value for.
    pub fn required_string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.element(name, value);
        }
    }
    /// Nothing for `None`.
    pub fn opt_element<T: XmlValue>(&mut self, name: &str, value: &Option<T>) {
        if let Some(v) = value {
            self.element(name, v);
        }
    }
    /// `<name><member>…</member>…</name>`, `<name/>` when empty; flattened lists repeat
    /// `<member>` without a wrapper.
    pub fn list<T: XmlValue>(&mut self, name: &str, member: &str, flattened: bool, items: &[T]) {
        if flattened {
            for item in items {
                self.element(member, item);
            }
            return;
        }
        if items.is_empty() {
            self.out.push('<');
            self.out.push_str(name);
            self.out.push_str("/>");
            return;
        }
        self.start(name);
        for item in items {
            self.element(member, item);
        }
        self.end(name);
    }
    pub fn opt_list<T: XmlValue>(
        &mut self,
        name: &str,
        member: &str,
        flattened: bool,
        items: &Option<Vec<T>>,
    ) {
        if let Some(items) = items {
            self.list(name, member, flattened, items);
        }
    }
    /// `<name><entry><key>…</key><value>…</value></entry>…</name>`
    pub fn map<K: XmlValue, V: XmlValue>(
        &mut self,
        name: &str,
        key_name: &str,
        value_name: &str,
        flattened: bool,
        entries: &[(K, V)],
    ) {
        if !flattened {
            if entries.is_empty() {
                self.out.push('<');
                self.out.push_str(name);
                self.out.push_str("/>");
                return;
            }
            self.start(name);
        }
        for (k, v) in entries {
            self.start(if flattened { name } else { "entry" });
            self.element(key_name, k);
            self.element(value_name, v);
            self.end(if flattened { name } else { "entry" });
        }
        if !flattened {
            self.end(name);
        }
    }
    pub fn opt_map<K: XmlValue, V: XmlValue>(
        &mut self,
        name: &str,
        key_name: &str,
        value_name: &str,
        flattened: bool,
        entries: &Option<Vec<(K, V)>>,
    ) {
        if let Some(entries) = entries {
            self.map(name, key_name, value_name, flattened, entries);
        }
    }
}

impl<T: EncodeXml> XmlValue for T {
    fn write_xml(&self, w: &mut XmlWriter) {
        self.encode_members(w);
    }
}

impl XmlValue for String {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.text(self);
    }
}
impl XmlValue for str {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.text(self);
    }
}
impl XmlValue for i32 {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.raw(&self.to_string());
    }
}
impl XmlValue for i64 {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.raw(&self.to_string());
    }
}
impl XmlValue for bool {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.raw(if *self { "true" } else { "false" });
    }
}
impl XmlValue for Timestamp {
    fn write_xml(&self, w: &mut XmlWriter) {
        gatehouse_types::write_iso8601(&mut w.out, *self);
    }
}
impl XmlValue for Vec<u8> {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.raw(&base64_encode(self));
    }
}

/// The full response document:
/// `<{Op}Response xmlns="…"><{Op}Result>…</{Op}Result><ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></{Op}Response>`,
/// without the Result element for operations that have no output.
pub fn response_document(
    xmlns: &str,
    operation: &str,
    result: Option<(&str, &dyn EncodeXml)>,
    request_id: &str,
) -> String {
    let mut w = XmlWriter::new();
    w.raw("<");
    w.raw(operation);
    w.raw("Response xmlns=\"");
    w.text(xmlns);
    w.raw("\">");
    if let Some((wrapper, body)) = result {
        w.start(wrapper);
        body.encode_members(&mut w);
        w.end(wrapper);
    }
    w.raw("<ResponseMetadata><RequestId>");
    w.text(request_id);
    w.raw("</RequestId></ResponseMetadata></");
    w.raw(operation);
    w.raw("Response>");
    w.into_string()
}

// ---------------------------------------------------------------------------------------------
// Base64 (standard alphabet, padded), as the Query protocol carries blobs.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    let sym = |v: u32| char::from(B64.get((v & 63) as usize).copied().unwrap_or(b'='));
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = b(0) << 16 | b(1) << 8 | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// Decodes padded or unpadded standard base64; ASCII whitespace is skipped.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut pad = 0;
    while symbols.last() == Some(&b'=') && pad < 2 {
        symbols.pop();
        pad += 1;
    }
    if symbols.len() % 4 == 1 || (pad > 0 && !(symbols.len() + pad).is_multiple_of(4)) {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() * 3 / 4);
    for chunk in symbols.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(bytes.get(..chunk.len() - 1)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(base64_decode("Zm9v\nYmFy").unwrap(), b"foobar");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
        for bad in ["Z", "Zm9v!", "Zg=", "Z==="] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn writer_lists_and_maps() {
        let mut w = XmlWriter::new();
        w.list::<String>("Empty", "member", false, &[]);
        w.list("L", "member", false, &["a".to_owned(), "<b>".to_owned()]);
        w.map("M", "key", "value", false, &[("k".to_owned(), 1i32)]);
        w.opt_element::<bool>("None", &None);
        w.opt_element("Some", &Some(true));
        assert_eq!(
            w.into_string(),
            "<Empty/><L><member>a</member><member>&lt;b&gt;</member></L>\
             <M><entry><key>k</key><value>1</value></entry></M><Some>true</Some>"
        );
    }

    #[test]
    fn patterns_with_forbidden_substrings() {
        static P: Pattern = Pattern::new("x", "^(?:[a-z-]+)$", &["--"]);
        assert!(P.matches("a-b"));
        assert!(!P.matches("a--b"));
        assert!(!P.matches("A"));
    }
}
