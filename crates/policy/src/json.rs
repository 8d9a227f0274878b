//! A small JSON reader that keeps positions and rejects duplicate keys.
//!
//! serde_json silently keeps the last of two equal keys and forgets where values were; policy
//! validation needs both, so policies are read with this instead.

use crate::error::PolicyError;

/// A 1-based position in the source text (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// The number's source text.
    Number(String),
    String(String),
    Array(Vec<Node>),
    /// Members in source order: key, key position, value.
    Object(Vec<Member>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Value {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

const MAX_DEPTH: usize = 64;

/// Parses one JSON document.
pub(crate) fn parse(text: &str) -> Result<Node, PolicyError> {
    let mut p = Parser {
        src: text.as_bytes(),
        i: 0,
        line: 1,
        col: 1,
        depth: 0,
    };
    // A leading byte-order mark is tolerated.
    if text.starts_with('\u{feff}') {
        p.i = 3;
    }
    p.ws();
    let node = p.value()?;
    p.ws();
    if p.i < p.src.len() {
        return Err(p.err("unexpected text after the JSON document"));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a [u8],
    i: usize,
    line: u32,
    col: u32,
    depth: usize,
}

impl Parser<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }

    fn err(&self, detail: &str) -> PolicyError {
        PolicyError::syntax(detail).at(self.pos())
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        if b == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            // Count characters, not UTF-8 continuation bytes.
            self.col += 1;
        }
        Some(b)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.bump();
        }
    }

    fn expect_lit(&mut self, lit: &str) -> Result<(), PolicyError> {
        for &want in lit.as_bytes() {
            if self.peek() != Some(want) {
                return Err(self.err("invalid literal"));
            }
            self.bump();
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node, PolicyError> {
        let pos = self.pos();
        let value = match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => {
                self.expect_lit("true")?;
                Value::Bool(true)
            }
            Some(b'f') => {
                self.expect_lit("false")?;
                Value::Bool(false)
            }
            Some(b'n') => {
                self.expect_lit("null")?;
                Value::Null
            }
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            Some(_) => return Err(self.err("expected a JSON value")),
            None => return Err(self.err("unexpected end of the document")),
        };
        Ok(Node { value, pos })
    }

    fn enter(&mut self) -> Result<(), PolicyError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting is too deep"));
        }
        self.bump();
        self.ws();
        Ok(())
    }

    fn object(&mut self) -> Result<Value, PolicyError> {
        self.enter()?;
        let mut members: Vec<Member> = Vec::new();
        // Large objects check duplicates through a set, so a hostile document stays linear.
        let mut seen: Option<std::collections::HashSet<String>> = None;
        if self.peek() == Some(b'}') {
            self.bump();
            self.depth -= 1;
            return Ok(Value::Object(members));
        }
        loop {
            let key_pos = self.pos();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a quoted key"));
            }
            let key = self.string()?;
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let dup = members.iter().any(|m| m.key == key);
                    if members.len() >= 16 {
                        seen = Some(
                            members
                                .iter()
                                .map(|m| m.key.clone())
                                .chain([key.clone()])
                                .collect(),
                        );
                    }
                    dup
                }
            };
            if duplicate {
                return Err(PolicyError::syntax(format!("duplicate key \"{key}\"")).at(key_pos));
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.bump();
            self.ws();
            let value = self.value()?;
            members.push(Member {
                key,
                key_pos,
                value,
            });
            self.ws();
            match self.bump() {
                Some(b',') => self.ws(),
                Some(b'}') => break,
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
        self.depth -= 1;
        Ok(Value::Object(members))
    }

    fn array(&mut self) -> Result<Value, PolicyError> {
        self.enter()?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.bump();
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.bump() {
                Some(b',') => self.ws(),
                Some(b']') => break,
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn number(&mut self) -> Result<String, PolicyError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => {
                self.bump();
            }
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.bump();
                }
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.bump();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.bump();
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.bump();
            if let Some(b'+' | b'-') = self.peek() {
                self.bump();
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.bump();
            }
        }
        let bytes = self.src.get(start..self.i).unwrap_or_default();
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn hex4(&mut self) -> Result<u32, PolicyError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.bump() {
                Some(b) => (b as char).to_digit(16),
                None => None,
            };
            match d {
                Some(d) => v = v * 16 + d,
                None => return Err(self.err("invalid \\u escape")),
            }
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, PolicyError> {
        self.bump(); // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.bump() else {
                return Err(self.err("unterminated string"));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.bump() else {
                        return Err(self.err("unterminated string"));
                    };
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.bump() != Some(b'\\') || self.bump() != Some(b'u') {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(c) => c,
                                None => return Err(self.err("unpaired surrogate in \\u escape")),
                            }
                        }
                        _ => return Err(self.err("invalid escape in string")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1F => return Err(self.err("control character in string")),
                _ => out.push(b),
            }
        }
        // The input is a &str and escapes produce whole characters, so this cannot fail.
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string"))
    }
}

/// The length of a policy as AWS counts it: every character except whitespace outside strings.
pub(crate) fn size(text: &str) -> usize {
    let mut n = 0;
    let mut in_str = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_str {
            n += 1;
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if !c.is_whitespace() {
            n += 1;
            if c == '"' {
                in_str = true;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> PolicyError {
        parse(text).unwrap_err()
    }

    #[test]
    fn parses_values_with_positions() {
        let n =
            parse("{\n  \"a\": [1, -2.5e3, true, null, \"x\\u00e9\\ud83d\\ude00\"]\n}").unwrap();
        let Value::Object(m) = n.value else { panic!() };
        assert_eq!(m[0].key, "a");
        assert_eq!(m[0].key_pos, Pos { line: 2, column: 3 });
        let Value::Array(items) = &m[0].value.value else {
            panic!()
        };
        assert_eq!(items[1].value, Value::Number("-2.5e3".into()));
        assert_eq!(items[4].value, Value::String("xé😀".into()));
        assert_eq!(
            items[4].pos,
            Pos {
                line: 2,
                column: 32
            }
        );
    }

    #[test]
    fn rejects_duplicates_and_bad_syntax() {
        let e = err("{\"a\":1,\n \"a\":2}");
        assert_eq!(e.message(), "Syntax errors in policy.");
        assert_eq!((e.line(), e.column()), (Some(2), Some(2)));
        assert!(e.detail().unwrap().contains("duplicate"));
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "\"\\x\"",
            "\"a",
            "tru",
            "{} x",
            "\"\\ud800\"",
            "\"\u{1}\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&deep).is_err());
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":1")).collect();
        assert!(parse(&format!("{{{}}}", many.join(","))).is_ok());
        let e = parse(&format!("{{{},\"k3\":2}}", many.join(","))).unwrap_err();
        assert!(e.detail().unwrap().contains("k3"));
    }

    #[test]
    fn size_ignores_whitespace_outside_strings() {
        assert_eq!(
            size("{ \"a b\" : [ 1 , 2 ] }"),
            "{\"a b\":[1,2]}".chars().count()
        );
        assert_eq!(size("{\"a\\\" \":1}"), 10);
    }
}
