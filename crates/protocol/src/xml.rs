//! XML text escaping that keeps every document well-formed.

use std::borrow::Cow;

/// Characters XML 1.0 does not allow at all, not even as character references.
fn is_forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

fn needs_escape(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') || is_forbidden(c)
}

/// Appends `s` as element text or attribute value: `& < > " '` become entities, CR becomes
/// `&#xD;` (so parsers don't fold it into LF), and characters XML 1.0 forbids become U+FFFD.
pub fn escape_into(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(at) = rest.find(needs_escape) {
        let (plain, tail) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = tail.chars();
        let Some(c) = chars.next() else { break };
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push('\u{FFFD}'),
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
}

/// [`escape_into`] returning a new string, borrowing when nothing needs escaping.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    if s.contains(needs_escape) {
        let mut out = String::with_capacity(s.len() + 16);
        escape_into(&mut out, s);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let check =
            |input: &str, expected: &str| assert_eq!(escape_text(input), expected, "{input:?}");
        check("plain", "plain");
        check("a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        check("tab\tlf\ncr\r", "tab\tlf\ncr&#xD;");
        check(
            "nul\u{0}bell\u{7}esc\u{1b}",
            "nul\u{FFFD}bell\u{FFFD}esc\u{FFFD}",
        );
        check("\u{FFFF}é😀", "\u{FFFD}é😀");
        check("&&", "&amp;&amp;");
        assert!(matches!(escape_text("no escapes"), Cow::Borrowed(_)));
    }
}
