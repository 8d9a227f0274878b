//! Wildcard matching, ARN matching and policy variables.
//!
//! Patterns are kept in an *encoded* form: `*` and `?` are wildcards, and a NUL byte escapes the
//! byte after it (so a literal `*` produced by `${*}` or by a substituted value is `\0*`).

use crate::eval::Env;

/// Escape byte in encoded patterns.
const ESC: u8 = 0;

/// Length of the UTF-8 sequence that starts with `b` (1 for stray continuation bytes).
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Matches `text` against an encoded glob pattern (`*` any run, `?` one character).
/// With `fold`, ASCII letters compare case-insensitively (the pattern must already be lowercase).
pub(crate) fn glob(pat: &[u8], text: &[u8], fold: bool) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&p) = pat.get(pi) {
            match p {
                b'*' => {
                    star = Some((pi + 1, ti));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    if let Some(&t) = text.get(ti) {
                        ti = (ti + utf8_len(t)).min(text.len());
                        pi += 1;
                        continue;
                    }
                }
                _ => {
                    let (lit, width) = if p == ESC {
                        (pat.get(pi + 1).copied(), 2)
                    } else {
                        (Some(p), 1)
                    };
                    if let (Some(l), Some(&t)) = (lit, text.get(ti)) {
                        let t = if fold { t.to_ascii_lowercase() } else { t };
                        if l == t {
                            pi += width;
                            ti += 1;
                            continue;
                        }
                    }
                }
            }
        } else if ti == text.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                pi = sp;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

/// Removes escapes from an encoded pattern that has no wildcard.
fn decode(pat: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pat.len());
    let mut i = 0;
    while let Some(&b) = pat.get(i) {
        if b == ESC {
            if let Some(&n) = pat.get(i + 1) {
                out.push(n);
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

/// Byte equality inlined for the short strings policies compare (a libc `memcmp` call costs
/// more than the comparison).
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// `text.starts_with(prefix)`, inlined like [`bytes_eq`].
#[inline]
pub(crate) fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| bytes_eq(head, prefix))
}

/// `text.ends_with(suffix)`, inlined like [`bytes_eq`].
#[inline]
pub(crate) fn ends_with(text: &[u8], suffix: &[u8]) -> bool {
    text.len()
        .checked_sub(suffix.len())
        .and_then(|from| text.get(from..))
        .is_some_and(|tail| bytes_eq(tail, suffix))
}

/// Lexicographic order of byte strings, inlined like [`bytes_eq`].
#[inline]
pub(crate) fn cmp_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// A compiled wildcard pattern: the common shapes (`*`, a literal, `prefix*`) avoid the
/// general matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    Any,
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
    Suffix(Box<[u8]>),
    /// Encoded pattern for [`glob`].
    Pattern(Box<[u8]>),
}

impl Glob {
    /// Compiles an encoded pattern (lowercase it first if it will be matched with `fold`).
    pub(crate) fn new(encoded: &[u8]) -> Glob {
        if encoded == b"*" {
            Glob::Any
        } else if is_literal(encoded) {
            Glob::Exact(decode(encoded).into())
        } else if let Some(head) = encoded.strip_suffix(b"*")
            && is_literal(head)
        {
            Glob::Prefix(decode(head).into())
        } else if let Some(tail) = encoded.strip_prefix(b"*")
            && is_literal(tail)
            && tail.first() != Some(&b'*')
        {
            Glob::Suffix(decode(tail).into())
        } else {
            Glob::Pattern(encoded.into())
        }
    }

    /// Matches `text`; with `fold`, ASCII case-insensitively (the pattern is lowercase).
    #[inline]
    pub(crate) fn matches(&self, text: &[u8], fold: bool) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(l) => match_shape(Shape::Exact, l, text, fold),
            Glob::Prefix(p) => match_shape(Shape::Prefix, p, text, fold),
            Glob::Suffix(p) => match_shape(Shape::Suffix, p, text, fold),
            Glob::Pattern(p) => glob(p, text, fold),
        }
    }

    fn shape(&self) -> (Shape, &[u8]) {
        match self {
            Glob::Any => (Shape::Any, &[]),
            Glob::Exact(b) => (Shape::Exact, b),
            Glob::Prefix(b) => (Shape::Prefix, b),
            Glob::Suffix(b) => (Shape::Suffix, b),
            Glob::Pattern(b) => (Shape::Pattern, b),
        }
    }
}

/// The shape of a compiled glob, for patterns stored flat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Any,
    Exact,
    Prefix,
    Suffix,
    Pattern,
}

#[inline]
fn match_shape(shape: Shape, pat: &[u8], text: &[u8], fold: bool) -> bool {
    let eq = |a: &[u8], b: &[u8]| {
        if fold {
            a.eq_ignore_ascii_case(b)
        } else {
            bytes_eq(a, b)
        }
    };
    match shape {
        Shape::Any => true,
        Shape::Exact => eq(pat, text),
        Shape::Prefix => text.get(..pat.len()).is_some_and(|t| eq(pat, t)),
        Shape::Suffix => text
            .len()
            .checked_sub(pat.len())
            .and_then(|from| text.get(from..))
            .is_some_and(|t| eq(pat, t)),
        Shape::Pattern => glob(pat, text, fold),
    }
}

/// Encodes literal text (no wildcards) so that [`glob`] matches it exactly.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if matches!(b, b'*' | b'?' | ESC) {
            out.push(ESC);
        }
        out.push(b);
    }
}

/// Encodes policy text in which `*` and `?` are wildcards.
pub(crate) fn encode_pattern(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b == ESC {
            out.push(ESC);
        }
        out.push(b);
    }
    out
}

/// True if an encoded pattern has no wildcard at all.
pub(crate) fn is_literal(pat: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = pat.get(i) {
        match b {
            b'*' | b'?' => return false,
            ESC => i += 2,
            _ => i += 1,
        }
    }
    true
}

/// A pre-split ARN pattern. The text is split at its first colons into as many parts as the
/// pattern has (at most six); each part matches within its part only, and the last part of the
/// pattern (normally the resource part, which may span `/` and `:`) matches the rest of the
/// text. So `arn:aws:s3:::b/*` matches any key, `arn:aws:ec2:*` any EC2 ARN, and
/// `arn:aws:*:111122223333:x` does not match `arn:aws:sns:us-east-1:111122223333:x`.
#[derive(Debug, Clone)]
pub(crate) enum ArnPattern {
    /// `*`: everything.
    Any,
    /// Up to six compiled parts, stored flat: one allocation per pattern.
    Parts(FlatParts),
}

/// One part of a flat ARN pattern: its shape and its bytes in [`FlatParts::bytes`].
#[derive(Debug, Clone, Copy)]
struct PartSpec {
    shape: Shape,
    start: u32,
    end: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct FlatParts {
    /// The lead (the leading literal parts joined with and followed by `:`), then the bytes of
    /// the other parts.
    bytes: Box<[u8]>,
    lead_len: usize,
    /// Number of parts in the lead.
    lead_parts: usize,
    parts: [PartSpec; 6],
    n: usize,
}

/// A request ARN split once at its first five colons, for matching against many patterns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitArn<'a> {
    text: &'a [u8],
    /// Start of each part; `colons[i]` ends part `i` (for `i + 1 < count`).
    starts: [usize; 6],
    colons: [usize; 6],
    count: usize,
}

impl<'a> SplitArn<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let text = text.as_bytes();
        let mut s = SplitArn {
            text,
            starts: [0; 6],
            colons: [text.len(); 6],
            count: 1,
        };
        for (pos, &b) in text.iter().enumerate() {
            if b == b':' {
                if let Some(c) = s.colons.get_mut(s.count - 1) {
                    *c = pos;
                }
                if let Some(st) = s.starts.get_mut(s.count) {
                    *st = pos + 1;
                }
                s.count += 1;
                if s.count == 6 {
                    break;
                }
            }
        }
        s
    }

    /// Part `i` of a pattern with `n` parts: the last takes the rest of the text.
    fn part(&self, i: usize, n: usize) -> &'a [u8] {
        let start = self.starts.get(i).copied().unwrap_or(0);
        let end = if i + 1 == n {
            self.text.len()
        } else {
            self.colons.get(i).copied().unwrap_or(self.text.len())
        };
        self.text.get(start..end).unwrap_or_default()
    }
}

/// Splits `text` into `n` ARN parts in turn (the last part takes the rest) and feeds each to
/// `part(i, segment)`; false as soon as one fails or the text has too few parts.
fn for_each_part(text: &[u8], n: usize, mut part: impl FnMut(usize, &[u8]) -> bool) -> bool {
    let mut rest = text;
    for i in 0..n {
        let segment = if i + 1 == n {
            std::mem::take(&mut rest)
        } else {
            match rest.iter().position(|&b| b == b':') {
                Some(c) => {
                    let (seg, after) = rest.split_at(c);
                    rest = after.get(1..).unwrap_or_default();
                    seg
                }
                None => return false,
            }
        };
        if !part(i, segment) {
            return false;
        }
    }
    true
}

impl ArnPattern {
    /// Compiles an encoded pattern.
    pub(crate) fn new(encoded: &[u8]) -> ArnPattern {
        if encoded == b"*" {
            return ArnPattern::Any;
        }
        let globs: Vec<Glob> = encoded.splitn(6, |&b| b == b':').map(Glob::new).collect();
        let n = globs.len();
        // Leading literal parts (not the last) are checked at once as a prefix of the text.
        let lead_parts = globs
            .iter()
            .take(n.saturating_sub(1))
            .take_while(|g| matches!(g, Glob::Exact(_)))
            .count();
        let mut bytes = Vec::with_capacity(encoded.len() + 1);
        for g in globs.iter().take(lead_parts) {
            bytes.extend_from_slice(g.shape().1);
            bytes.push(b':');
        }
        let lead_len = bytes.len();
        let mut parts = [PartSpec {
            shape: Shape::Any,
            start: 0,
            end: 0,
        }; 6];
        for (slot, g) in parts.iter_mut().zip(&globs).skip(lead_parts) {
            let (shape, b) = g.shape();
            let start = bytes.len() as u32;
            bytes.extend_from_slice(b);
            *slot = PartSpec {
                shape,
                start,
                end: bytes.len() as u32,
            };
        }
        ArnPattern::Parts(FlatParts {
            bytes: bytes.into(),
            lead_len,
            lead_parts,
            parts,
            n,
        })
    }

    /// Matches a pre-split ARN.
    pub(crate) fn matches_split(&self, arn: &SplitArn<'_>) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Parts(f) => {
                let n = f.n;
                let lead = f.bytes.get(..f.lead_len).unwrap_or_default();
                arn.count >= n
                    && arn
                        .text
                        .get(..lead.len())
                        .is_some_and(|t| bytes_eq(t, lead))
                    && f.parts
                        .iter()
                        .take(n)
                        .enumerate()
                        .skip(f.lead_parts)
                        .all(|(i, p)| {
                            let pat = f
                                .bytes
                                .get(p.start as usize..p.end as usize)
                                .unwrap_or_default();
                            match_shape(p.shape, pat, arn.part(i, n), false)
                        })
            }
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Parts(_) => self.matches_split(&SplitArn::new(text)),
        }
    }
}

/// Matches an ARN against an encoded pattern without compiling it (for rendered templates).
pub(crate) fn arn_match(encoded: &[u8], text: &str) -> bool {
    if encoded == b"*" {
        return true;
    }
    let mut parts: [&[u8]; 6] = [&[]; 6];
    let mut n = 0;
    for (slot, p) in parts.iter_mut().zip(encoded.splitn(6, |&b| b == b':')) {
        *slot = p;
        n += 1;
    }
    for_each_part(text.as_bytes(), n, |i, seg| {
        parts.get(i).is_some_and(|p| glob(p, seg, false))
    })
}

/// One piece of a string that may contain policy variables.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Policy text; in pattern use, `*` and `?` in it are wildcards.
    Text(String),
    /// `${*}`, `${?}`, `${$}`: always a literal character.
    Char(char),
    /// `${key}` or `${key, 'default'}`; key lowercased.
    Var {
        key: Box<str>,
        default: Option<String>,
    },
}

/// A string with policy variables, resolved per request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
    /// The text before the first variable or wildcard.
    prefix: Box<str>,
}

impl Template {
    /// Parses `${…}` variables out of `s`. Returns None if `s` has no variable.
    pub(crate) fn parse(s: &str) -> Option<Template> {
        if !s.contains("${") {
            return None;
        }
        let mut parts = Vec::new();
        let mut rest = s;
        let mut text = String::new();
        while let Some(start) = rest.find("${") {
            let (before, after) = rest.split_at(start);
            text.push_str(before);
            let inner_and_more = after.get(2..).unwrap_or_default();
            let Some(end) = inner_and_more.find('}') else {
                text.push_str(after);
                rest = "";
                break;
            };
            let inner = inner_and_more.get(..end).unwrap_or_default();
            rest = inner_and_more.get(end + 1..).unwrap_or_default();
            let part = match inner.trim() {
                "*" => Part::Char('*'),
                "?" => Part::Char('?'),
                "$" => Part::Char('$'),
                inner => {
                    let (key, default) = match inner.split_once(',') {
                        Some((k, d)) => {
                            let d = d.trim();
                            let d = d
                                .strip_prefix('\'')
                                .and_then(|d| d.strip_suffix('\''))
                                .unwrap_or(d);
                            (k.trim(), Some(d.to_string()))
                        }
                        None => (inner, None),
                    };
                    Part::Var {
                        key: key.to_ascii_lowercase().into(),
                        default,
                    }
                }
            };
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(part);
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        let prefix = match parts.first() {
            Some(Part::Text(t)) => t.split(['*', '?']).next().unwrap_or_default().into(),
            _ => "".into(),
        };
        Some(Template { parts, prefix })
    }

    /// The text before the first variable, if it has no wildcard: a cheap pre-check.
    pub(crate) fn literal_prefix(&self) -> &str {
        &self.prefix
    }

    /// The (lowercased) keys of the variables, for context-key listings.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { key, .. } => Some(&**key),
            _ => None,
        })
    }

    /// Resolves the variables. As a pattern (`pattern == true`) the result is encoded for
    /// [`glob`], with substituted values matching literally; otherwise it is plain text.
    /// None if a variable has no value and no default: AWS then treats the element as not
    /// matching. Variable keys that were missing are reported to `env`.
    pub(crate) fn render(&self, env: &Env<'_>, pattern: bool) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut ok = true;
        for p in &self.parts {
            match p {
                Part::Text(t) => {
                    if pattern {
                        out.extend_from_slice(&encode_pattern(t));
                    } else {
                        out.extend_from_slice(t.as_bytes());
                    }
                }
                Part::Char(c) => {
                    let mut buf = [0u8; 4];
                    let s = c.encode_utf8(&mut buf);
                    if pattern {
                        escape_into(&mut out, s);
                    } else {
                        out.extend_from_slice(s.as_bytes());
                    }
                }
                Part::Var { key, default } => {
                    let value = match env.get(key) {
                        Some([one]) => Some(one.as_str()),
                        _ => {
                            env.note_missing(key);
                            default.as_deref()
                        }
                    };
                    match value {
                        Some(v) if pattern => escape_into(&mut out, v),
                        Some(v) => out.extend_from_slice(v.as_bytes()),
                        None => ok = false,
                    }
                }
            }
        }
        ok.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str, t: &str) -> bool {
        glob(&encode_pattern(p), t.as_bytes(), false)
    }

    #[test]
    fn glob_cases() {
        for (p, t, want) in [
            ("*", "", true),
            ("*", "anything/at:all", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("??", "é", false),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("a**", "a", true),
            ("Get*", "get", false),
            ("*.txt", "dir/file.txt", true),
            ("*?", "", false),
        ] {
            assert_eq!(g(p, t), want, "{p:?} vs {t:?}");
        }
        assert!(glob(b"get*", b"GetObject", true));
        let mut lit = Vec::new();
        escape_into(&mut lit, "a*?");
        assert!(glob(&lit, b"a*?", false));
        assert!(!glob(&lit, b"abc", false));
        assert!(!is_literal(b"a*"));
        assert!(is_literal(&lit));
    }

    #[test]
    fn compiled_globs_agree_with_glob() {
        for p in [
            "*", "abc", "ab*", "a*c", "a?", "", "a\0*", "\0**", "*bc", "*\0*", "**c", "*",
        ] {
            let enc = p.replace("\\0", "\0").into_bytes();
            let g = Glob::new(&enc);
            for t in [
                "", "abc", "ab", "abcd", "a*", "a*x", "*", "*x", "xabc", "ABC", "c", "bc", "aBC",
            ] {
                assert_eq!(
                    g.matches(t.as_bytes(), false),
                    glob(&enc, t.as_bytes(), false),
                    "{p:?} {t:?}"
                );
                assert_eq!(
                    g.matches(t.as_bytes(), true),
                    glob(&enc, t.as_bytes(), true),
                    "{p:?} {t:?} fold"
                );
            }
        }
        assert_eq!(Glob::new(b"ab*"), Glob::Prefix(b"ab".as_slice().into()));
        assert_eq!(Glob::new(b"a\0*"), Glob::Exact(b"a*".as_slice().into()));
    }

    #[test]
    fn arn_segments() {
        let m = |p: &str, t: &str| {
            let pat = ArnPattern::new(&encode_pattern(p));
            let split = pat.matches_split(&SplitArn::new(t));
            assert_eq!(split, pat.matches(t), "{p} {t}");
            assert_eq!(split, arn_match(&encode_pattern(p), t), "{p} {t}");
            split
        };
        assert!(m("*", "whatever"));
        assert!(m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c"));
        assert!(!m("arn:aws:s3:::bucket/*", "arn:aws:s3:::other/a"));
        assert!(m(
            "arn:aws:iam::*:user/*",
            "arn:aws:iam::111122223333:user/a"
        ));
        // A wildcard in one part does not swallow the colons after it.
        assert!(!m("arn:aws:s3:*:::b", "arn:aws:s3:us:1:x:::b"));
        // Fewer than six parts: one glob over the whole ARN.
        assert!(m("arn:aws:ec2:*", "arn:aws:ec2:us-east-1:1:instance/i"));
        assert!(!m(
            "arn:aws:ec2:*:*:instance/*",
            "arn:aws:ec2:us-east-1:1:volume/v"
        ));
        assert!(m("arn:aws:ec2:*:*:*", "arn:aws:ec2:us-east-1:1:instance/i"));
        assert!(m("arn:*:*:*:*:*", "arn:aws:s3:::b"));
        assert!(!m("arn:aws:s3:::B", "arn:aws:s3:::b"));
        assert!(!m("arn:aws:s3:::b", "b"));
        assert!(!m(
            "arn:aws:*:111122223333:t",
            "arn:aws:sns:us-east-1:111122223333:t"
        ));
        assert!(m(
            "arn:aws:sns:*:111122223333:t",
            "arn:aws:sns:us-east-1:111122223333:t"
        ));
        assert!(!m("arn:aws:s3:::b", "arn:aws:s3:::b:c"));
    }

    #[test]
    fn template_parsing() {
        let t = Template::parse("arn:aws:s3:::b/${aws:username}/${*}${ aws:x , 'd' }").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Text("arn:aws:s3:::b/".into()),
                Part::Var {
                    key: "aws:username".into(),
                    default: None
                },
                Part::Text("/".into()),
                Part::Char('*'),
                Part::Var {
                    key: "aws:x".into(),
                    default: Some("d".into())
                },
            ]
        );
        assert!(Template::parse("plain").is_none());
        let t = Template::parse("a${b").unwrap();
        assert_eq!(t.parts, vec![Part::Text("a${b".into())]);
    }
}
