//! A reader for the small part of DER that certificates and keys use: definite lengths,
//! one-byte tags. Everything else is refused as malformed.

/// The input is not the DER this reader expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;

/// Context-specific constructed tag `[n]`.
pub const fn context(n: u8) -> u8 {
    0xa0 | n
}

/// A cursor over consecutive DER elements.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element's tag and contents.
    pub fn next(&mut self) -> Result<(u8, &'a [u8]), Malformed> {
        let (&tag, rest) = self.rest.split_first().ok_or(Malformed)?;
        // High tag numbers (0x1f) never appear in the structures read here.
        if tag & 0x1f == 0x1f {
            return Err(Malformed);
        }
        let (&first, mut rest) = rest.split_first().ok_or(Malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            // 0x80 is BER's indefinite length; more than four length bytes is absurd here.
            if count == 0 || count > 4 {
                return Err(Malformed);
            }
            let (digits, after) = rest.split_at_checked(count).ok_or(Malformed)?;
            rest = after;
            digits
                .iter()
                .fold(0usize, |n, &d| (n << 8) | usize::from(d))
        };
        let (body, after) = rest.split_at_checked(len).ok_or(Malformed)?;
        self.rest = after;
        Ok((tag, body))
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<&'a [u8], Malformed> {
        match self.next()? {
            (t, body) if t == tag => Ok(body),
            _ => Err(Malformed),
        }
    }

    /// The next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, Malformed> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The contents of a SEQUENCE, as a reader.
    pub fn sequence(&mut self) -> Result<Reader<'a>, Malformed> {
        self.expect(SEQUENCE).map(Reader::new)
    }
}

/// An unsigned INTEGER's magnitude without leading zero bytes.
pub fn unsigned(body: &[u8]) -> &[u8] {
    let zeros = body.iter().take_while(|&&b| b == 0).count();
    body.get(zeros..).unwrap_or_default()
}

/// A BIT STRING's bits, which must be whole bytes.
pub fn whole_bytes(bit_string: &[u8]) -> Result<&[u8], Malformed> {
    match bit_string.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(Malformed),
    }
}

/// Encodes one element (used to render keys in another format).
pub fn encode(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let digits: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | digits.len() as u8);
        out.extend(digits);
    }
    out.extend_from_slice(body);
    out
}

/// Encodes an unsigned integer (a leading zero where the top bit is set).
pub fn encode_unsigned(magnitude: &[u8]) -> Vec<u8> {
    let magnitude = unsigned(magnitude);
    let mut body = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_none_or(|&b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend_from_slice(magnitude);
    encode(INTEGER, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let long_body = vec![7u8; 200];
        let mut bytes = encode(OCTET_STRING, b"hi");
        bytes.extend(encode(SEQUENCE, &long_body));
        let mut r = Reader::new(&bytes);
        assert_eq!(r.expect(OCTET_STRING), Ok(&b"hi"[..]));
        assert_eq!(r.expect(SEQUENCE), Ok(&long_body[..]));
        assert!(r.is_empty());
    }

    #[test]
    fn refuses_truncation_indefinite_lengths_and_wrong_tags() {
        assert_eq!(Reader::new(&[0x30, 0x05, 1, 2]).next(), Err(Malformed));
        assert_eq!(Reader::new(&[0x30, 0x80, 0, 0]).next(), Err(Malformed));
        assert_eq!(
            Reader::new(&[0x02, 0x01, 1]).expect(SEQUENCE),
            Err(Malformed)
        );
        assert_eq!(Reader::new(&[]).next(), Err(Malformed));
    }

    #[test]
    fn integers_round_trip_without_sign_confusion() {
        assert_eq!(encode_unsigned(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(encode_unsigned(&[0x00, 0x01]), vec![0x02, 0x01, 0x01]);
        assert_eq!(unsigned(&[0, 0, 5]), &[5]);
    }
}
