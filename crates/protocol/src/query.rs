//! Query-protocol parameters: `application/x-www-form-urlencoded` bodies and URL query strings.

use std::collections::BTreeMap;

use crate::error::{ApiError, ErrorCode};

/// The decoded `key=value` pairs of one request. Keys are unique: a key sent twice is an error,
/// since AWS's decoder would take only one of them and we'd rather not guess which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    map: BTreeMap<String, String>,
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQueryParameter, message)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one key or value (`+` is a space). Rejects a `%` not followed by two hex
/// digits and anything that isn't UTF-8 once decoded.
fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(hex_value);
                let lo = bytes.next().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => {
                        return Err(malformed(
                            "The query string contains an invalid percent-encoding.",
                        ));
                    }
                }
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out)
        .map_err(|_| malformed("The query string is not valid UTF-8 after percent-decoding."))
}

impl QueryParams {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a form body or a URL query string (without the `?`).
    pub fn parse(input: &[u8]) -> Result<QueryParams, ApiError> {
        let mut params = QueryParams::new();
        for pair in input.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    pair.get(..eq).unwrap_or_default(),
                    pair.get(eq + 1..).unwrap_or_default(),
                ),
                None => (pair, &[][..]),
            };
            let key = decode_component(key)?;
            let value = decode_component(value)?;
            params.insert(key, value)?;
        }
        Ok(params)
    }

    /// Builds parameters from pairs; a repeated key is an error as in [`QueryParams::parse`].
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<QueryParams, ApiError> {
        let mut params = QueryParams::new();
        for (k, v) in pairs {
            params.insert(k.into(), v.into())?;
        }
        Ok(params)
    }

    /// Adds one parameter; an empty key is ignored, a key already present is an error.
    pub fn insert(&mut self, key: String, value: String) -> Result<(), ApiError> {
        if key.is_empty() {
            return Ok(());
        }
        if self.map.contains_key(&key) {
            return Err(malformed(format!(
                "The parameter {key} appears more than once in the request."
            )));
        }
        self.map.insert(key, value);
        Ok(())
    }

    /// Adds `other`'s parameters (a POST may carry some in the URL and the rest in the body).
    /// A key present in both is an error.
    pub fn merge(&mut self, other: QueryParams) -> Result<(), ApiError> {
        for (k, v) in other.map {
            self.insert(k, v)?;
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// The stored key and value for `key`.
    pub fn get_key_value(&self, key: &str) -> Option<(&str, &str)> {
        self.map
            .get_key_value(key)
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All parameters in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Keys starting with `prefix`, in order.
    pub fn keys_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.map
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(k, _)| k.as_str())
            .take_while(move |k| k.starts_with(prefix))
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.keys_with_prefix(prefix).next().is_some()
    }

    /// The parameters as a form body (`application/x-www-form-urlencoded`), for clients and tests.
    pub fn to_form_string(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.map {
            ser.append_pair(k, v);
        }
        ser.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_form_bodies() {
        let p = QueryParams::parse(
            b"Action=CreateUser&Version=2010-05-08&UserName=bob%2Bx&Path=%2Fa+b%2F&Empty=&Bare",
        )
        .unwrap();
        assert_eq!(p.action(), Some("CreateUser"));
        assert_eq!(p.version(), Some("2010-05-08"));
        assert_eq!(p.get("UserName"), Some("bob+x"));
        assert_eq!(p.get("Path"), Some("/a b/"));
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.get("Bare"), Some(""));
        assert_eq!(p.get("Missing"), None);
        assert_eq!(p.len(), 6);
        assert_eq!(QueryParams::parse(b"").unwrap().len(), 0);
        assert_eq!(QueryParams::parse(b"&&a=1&").unwrap().get("a"), Some("1"));
        assert_eq!(
            QueryParams::parse("k=%C3%A9t%C3%A9".as_bytes())
                .unwrap()
                .get("k"),
            Some("été")
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &b"a=%zz"[..],
            b"a=%4",
            b"a=%",
            b"a=%FF%FE",
            b"a=1&a=2",
            b"%C3=x",
        ] {
            let err = QueryParams::parse(bad).unwrap_err();
            assert_eq!(
                err.code,
                ErrorCode::InvalidQueryParameter,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(err.http_status(), 400);
        }
    }

    #[test]
    fn merges_and_finds_prefixes() {
        let mut p = QueryParams::parse(b"Action=ListUsers&Version=2010-05-08").unwrap();
        p.merge(QueryParams::parse(b"Tags.member.1.Key=a&Tags.member.1.Value=b&Tagz=1").unwrap())
            .unwrap();
        assert_eq!(p.len(), 5);
        assert!(p.has_prefix("Tags.member.1."));
        assert!(!p.has_prefix("Tags.member.2."));
        assert_eq!(
            p.keys_with_prefix("Tags.").collect::<Vec<_>>(),
            ["Tags.member.1.Key", "Tags.member.1.Value"]
        );
        let dup = p
            .merge(QueryParams::parse(b"Action=GetUser").unwrap())
            .unwrap_err();
        assert_eq!(dup.code, ErrorCode::InvalidQueryParameter);
    }

    #[test]
    fn form_string_round_trips() {
        let p =
            QueryParams::from_pairs([("UserName", "a b+c&d=é"), ("Action", "CreateUser")]).unwrap();
        assert_eq!(
            QueryParams::parse(p.to_form_string().as_bytes()).unwrap(),
            p
        );
    }
}
