//! Condition operators: parsing the `Condition` block and evaluating it.

use std::net::IpAddr;

use crate::error::PolicyError;
use crate::eval::Env;
use crate::json::{Node, Value};
use crate::pattern::{self, ArnPattern, Glob, Template};
use crate::policy::Need;

/// How the request values are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    /// Plain operator: true if any request value matches any policy value.
    Single,
    /// `ForAllValues:`: every request value matches (true for a missing or empty key).
    ForAll,
    /// `ForAnyValue:`: at least one request value matches (false for a missing or empty key).
    ForAny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn test<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// One policy value, compiled for its operator family.
#[derive(Debug, Clone)]
enum Val {
    /// Exact text (lowercased for the IgnoreCase family).
    Text(Box<str>),
    /// Compiled glob pattern (StringLike).
    Like(Glob),
    Arn(ArnPattern),
    /// Text with policy variables, resolved per request.
    Template(Template),
    Number(f64),
    /// Milliseconds since the Unix epoch.
    Date(i64),
    Bool(bool),
    Binary(Box<[u8]>),
    Cidr(Cidr),
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok()?
            }
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One `"Operator": {"key": values}` entry, for a single key.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    family: Family,
    negated: bool,
    if_exists: bool,
    set: SetOp,
    /// Lowercased key.
    key: Box<str>,
    /// The key as written.
    key_as_written: Box<str>,
    values: Vec<Val>,
}

fn parse_operator(name: &str) -> Option<(SetOp, Family, bool, bool)> {
    let lower = name.to_ascii_lowercase();
    let (set, rest) = if let Some(r) = lower.strip_prefix("forallvalues:") {
        (SetOp::ForAll, r)
    } else if let Some(r) = lower.strip_prefix("foranyvalue:") {
        (SetOp::ForAny, r)
    } else {
        (SetOp::Single, lower.as_str())
    };
    let (if_exists, base) = match rest.strip_suffix("ifexists") {
        Some(b) => (true, b),
        None => (false, rest),
    };
    let (family, negated) = match base {
        "stringequals" => (Family::String, false),
        "stringnotequals" => (Family::String, true),
        "stringequalsignorecase" => (Family::StringIgnoreCase, false),
        "stringnotequalsignorecase" => (Family::StringIgnoreCase, true),
        "stringlike" => (Family::StringLike, false),
        "stringnotlike" => (Family::StringLike, true),
        "numericequals" => (Family::Numeric(Cmp::Eq), false),
        "numericnotequals" => (Family::Numeric(Cmp::Eq), true),
        "numericlessthan" => (Family::Numeric(Cmp::Lt), false),
        "numericlessthanequals" => (Family::Numeric(Cmp::Le), false),
        "numericgreaterthan" => (Family::Numeric(Cmp::Gt), false),
        "numericgreaterthanequals" => (Family::Numeric(Cmp::Ge), false),
        "dateequals" => (Family::Date(Cmp::Eq), false),
        "datenotequals" => (Family::Date(Cmp::Eq), true),
        "datelessthan" => (Family::Date(Cmp::Lt), false),
        "datelessthanequals" => (Family::Date(Cmp::Le), false),
        "dategreaterthan" => (Family::Date(Cmp::Gt), false),
        "dategreaterthanequals" => (Family::Date(Cmp::Ge), false),
        "bool" => (Family::Bool, false),
        "binaryequals" => (Family::Binary, false),
        "ipaddress" => (Family::Ip, false),
        "notipaddress" => (Family::Ip, true),
        "arnequals" | "arnlike" => (Family::Arn, false),
        "arnnotequals" | "arnnotlike" => (Family::Arn, true),
        "null" if !if_exists && set == SetOp::Single => (Family::Null, false),
        _ => return None,
    };
    Some((set, family, negated, if_exists))
}

/// Parses a number as AWS's numeric operators accept it (no NaN or infinity).
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !ok {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses an ISO 8601 date/time (`2024-01-02`, `2024-01-02T03:04:05Z`, fractions, offsets)
/// or epoch seconds, to milliseconds since the epoch.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let body = s.strip_prefix('-').unwrap_or(s);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
        return Some((secs * 1000.0).round() as i64);
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (s.get(..i)?, Some(s.get(i + 1..)?)),
        None => (s, None),
    };
    let mut it = date.split('-');
    let y = digits(it.next()?, 4)?;
    let m = digits(it.next()?, 2)?;
    let d = digits(it.next()?, 2)?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if let Some(t) = time {
        let (clock, offset_ms) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let (c, off) = t.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let off = off.get(1..)?.replace(':', "");
            let oh = digits(off.get(..2)?, 2)?;
            let om = digits(off.get(2..)?, 2)?;
            (c, sign * (oh * 60 + om) * 60_000)
        } else {
            (t, 0)
        };
        let (hms, frac) = match clock.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (clock, None),
        };
        let mut parts = hms.split(':');
        let h = digits(parts.next()?, 2)?;
        let mi = digits(parts.next()?, 2)?;
        let sec = match parts.next() {
            Some(x) => digits(x, 2)?,
            None => 0,
        };
        if parts.next().is_some() || h > 24 || mi > 59 || sec > 60 {
            return None;
        }
        let mut frac_ms = 0;
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            for (i, b) in f.bytes().chain(*b"000").take(3).enumerate() {
                frac_ms += i64::from(b - b'0') * [100, 10, 1].get(i).copied().unwrap_or(0);
            }
        }
        ms += ((h * 60 + mi) * 60 + sec) * 1000 + frac_ms - offset_ms;
    }
    Some(ms)
}

/// Decodes standard base64 (padding optional).
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

fn bad_value(op: &str, key: &str, v: &str) -> PolicyError {
    PolicyError::syntax(format!(
        "invalid value \"{v}\" for condition operator {op} on key {key}"
    ))
}

impl Condition {
    fn compile_value(
        family: Family,
        text: &str,
        variables: bool,
        op: &str,
        key: &str,
    ) -> Result<Val, PolicyError> {
        let template = if variables
            && matches!(
                family,
                Family::String | Family::StringIgnoreCase | Family::StringLike | Family::Arn
            ) {
            Template::parse(text)
        } else {
            None
        };
        if let Some(t) = template {
            return Ok(Val::Template(t));
        }
        let bad = || bad_value(op, key, text);
        Ok(match family {
            Family::String => Val::Text(text.into()),
            Family::StringIgnoreCase => Val::Text(text.to_lowercase().into()),
            Family::StringLike => Val::Like(Glob::new(&pattern::encode_pattern(text))),
            Family::Arn => Val::Arn(ArnPattern::new(&pattern::encode_pattern(text))),
            Family::Numeric(_) => Val::Number(parse_number(text).ok_or_else(bad)?),
            Family::Date(_) => Val::Date(parse_date(text).ok_or_else(bad)?),
            Family::Bool | Family::Null => match text.to_ascii_lowercase().as_str() {
                "true" => Val::Bool(true),
                "false" => Val::Bool(false),
                _ => return Err(bad()),
            },
            Family::Binary => Val::Binary(base64_decode(text).ok_or_else(bad)?.into()),
            Family::Ip => Val::Cidr(Cidr::parse(text).ok_or_else(bad)?),
        })
    }

    /// Parses the whole `Condition` element into one condition per (operator, key).
    pub(crate) fn parse_block(node: &Node, variables: bool) -> Result<Vec<Condition>, PolicyError> {
        let Value::Object(ops) = &node.value else {
            return Err(PolicyError::syntax("Condition must be an object").at(node.pos));
        };
        let mut out = Vec::new();
        for op in ops {
            let Value::Object(keys) = &op.value.value else {
                return Err(PolicyError::syntax(format!(
                    "the value of condition operator {} must be an object",
                    op.key
                ))
                .at(op.value.pos));
            };
            let Some((set, family, negated, if_exists)) = parse_operator(&op.key) else {
                return Err(
                    PolicyError::new(format!("Invalid Condition type : {}", op.key)).at(op.key_pos),
                );
            };
            for k in keys {
                if k.key
                    .split_once(':')
                    .is_none_or(|(vendor, _)| vendor.is_empty())
                {
                    return Err(PolicyError::new(
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                    )
                    .with_detail(format!("condition key \"{}\"", k.key))
                    .at(k.key_pos));
                }
                let items: Vec<&Node> = match &k.value.value {
                    Value::Array(a) => a.iter().collect(),
                    _ => vec![&k.value],
                };
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    let text = match &item.value {
                        Value::String(s) => s.as_str(),
                        Value::Number(n) => n.as_str(),
                        Value::Bool(true) => "true",
                        Value::Bool(false) => "false",
                        other => {
                            return Err(PolicyError::syntax(format!(
                                "condition value must be a string, number or boolean, not {}",
                                other.type_name()
                            ))
                            .at(item.pos));
                        }
                    };
                    values.push(
                        Condition::compile_value(family, text, variables, &op.key, &k.key)
                            .map_err(|e| e.at(item.pos))?,
                    );
                }
                out.push(Condition {
                    family,
                    negated,
                    if_exists,
                    set,
                    key: k.key.to_ascii_lowercase().into(),
                    key_as_written: k.key.as_str().into(),
                    values,
                });
            }
        }
        Ok(out)
    }

    /// The condition key as written in the policy.
    pub(crate) fn key_as_written(&self) -> &str {
        &self.key_as_written
    }

    /// The keys evaluation looks up (lowercased), with what each needs so that it is not
    /// reported missing: the condition key (not for `Null`, which never reports it) and the
    /// variables in the values.
    pub(crate) fn lookups(&self) -> impl Iterator<Item = (&str, Need)> {
        let key = (self.family != Family::Null).then_some((&*self.key, Need::NonEmpty));
        key.into_iter().chain(
            self.values
                .iter()
                .flat_map(|v| match v {
                    Val::Template(t) => Some(t.keys()),
                    _ => None,
                })
                .flatten()
                .map(|k| (k, Need::One)),
        )
    }

    /// Variable keys used in the values.
    pub(crate) fn variable_keys(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .flat_map(|v| match v {
                Val::Template(t) => Some(t.keys()),
                _ => None,
            })
            .flatten()
    }

    /// True if one request value matches one policy value.
    fn value_matches(&self, val: &Val, req: &str, env: &Env<'_>) -> bool {
        match (self.family, val) {
            (Family::String, Val::Text(p)) => req == &**p,
            (Family::StringIgnoreCase, Val::Text(p)) => {
                req.chars().flat_map(char::to_lowercase).eq(p.chars())
            }
            (Family::StringLike, Val::Like(p)) => p.matches(req.as_bytes(), false),
            (Family::Arn, Val::Arn(p)) => p.matches(req),
            (Family::String, Val::Template(t)) => {
                t.render(env, false).is_some_and(|p| p == req.as_bytes())
            }
            (Family::StringIgnoreCase, Val::Template(t)) => t.render(env, false).is_some_and(|p| {
                String::from_utf8_lossy(&p)
                    .chars()
                    .flat_map(char::to_lowercase)
                    .eq(req.chars().flat_map(char::to_lowercase))
            }),
            (Family::StringLike, Val::Template(t)) => t
                .render(env, true)
                .is_some_and(|p| pattern::glob(&p, req.as_bytes(), false)),
            (Family::Arn, Val::Template(t)) => t
                .render(env, true)
                .is_some_and(|p| pattern::arn_match(&p, req)),
            (Family::Numeric(c), Val::Number(p)) => {
                parse_number(req).is_some_and(|r| c.test(r, *p))
            }
            (Family::Date(c), Val::Date(p)) => parse_date(req).is_some_and(|r| c.test(r, *p)),
            (Family::Bool, Val::Bool(p)) => {
                let want = if *p { "true" } else { "false" };
                req.eq_ignore_ascii_case(want)
            }
            (Family::Binary, Val::Binary(p)) => base64_decode(req).is_some_and(|r| *r == **p),
            (Family::Ip, Val::Cidr(c)) => {
                req.trim().parse::<IpAddr>().is_ok_and(|ip| c.contains(ip))
            }
            _ => false,
        }
    }

    /// True if a request value matches at least one policy value (values are OR'ed).
    /// Typed request values are parsed once, not once per policy value.
    fn any_matches(&self, req: &str, env: &Env<'_>) -> bool {
        match self.family {
            Family::Ip => match req.trim().parse::<IpAddr>() {
                Ok(ip) => self
                    .values
                    .iter()
                    .any(|v| matches!(v, Val::Cidr(c) if c.contains(ip))),
                Err(_) => false,
            },
            Family::Numeric(cmp) => match parse_number(req) {
                Some(r) => self
                    .values
                    .iter()
                    .any(|v| matches!(v, Val::Number(p) if cmp.test(r, *p))),
                None => false,
            },
            Family::Date(cmp) => match parse_date(req) {
                Some(r) => self
                    .values
                    .iter()
                    .any(|v| matches!(v, Val::Date(p) if cmp.test(r, *p))),
                None => false,
            },
            _ => self.values.iter().any(|v| self.value_matches(v, req, env)),
        }
    }

    /// Evaluates the condition. Absent keys are reported to `env`.
    pub(crate) fn eval(&self, env: &Env<'_>) -> bool {
        let values = env.get(&self.key);
        if self.family == Family::Null {
            let absent = values.is_none_or(|v| v.is_empty());
            return self
                .values
                .iter()
                .any(|v| matches!(v, Val::Bool(b) if *b == absent));
        }
        let present = match values {
            Some(v) if !v.is_empty() => Some(v),
            _ => None,
        };
        let Some(values) = present else {
            env.note_missing(&self.key_as_written);
            if self.if_exists {
                return true;
            }
            return match self.set {
                SetOp::ForAll => true,
                SetOp::ForAny => false,
                // Negated operators are true when the key is absent.
                SetOp::Single => self.negated,
            };
        };
        match self.set {
            SetOp::Single => {
                let any = values.iter().any(|r| self.any_matches(r, env));
                any != self.negated
            }
            SetOp::ForAny => values
                .iter()
                .any(|r| self.any_matches(r, env) != self.negated),
            SetOp::ForAll => values
                .iter()
                .all(|r| self.any_matches(r, env) != self.negated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Context, Principal};

    fn conds(json: &str, variables: bool) -> Result<Vec<Condition>, PolicyError> {
        Condition::parse_block(&crate::json::parse(json).unwrap(), variables)
    }

    /// Evaluates a Condition block against a context; every condition must hold.
    fn check(block: &str, ctx: &Context, want: bool) {
        let p = Principal::user("arn:aws:iam::111122223333:user/alice");
        let env = Env::new(ctx, &p);
        let cs = conds(block, true).unwrap();
        let got = cs.iter().all(|c| c.eval(&env));
        assert_eq!(got, want, "{block} with {ctx:?}");
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.set(k, v.iter().copied());
        }
        c
    }

    #[test]
    fn string_operators() {
        let c = ctx(&[("t:k", &["Foo"])]);
        check(r#"{"StringEquals":{"t:k":"Foo"}}"#, &c, true);
        check(r#"{"StringEquals":{"t:K":["x","Foo"]}}"#, &c, true);
        check(r#"{"StringEquals":{"t:k":"foo"}}"#, &c, false);
        check(r#"{"StringNotEquals":{"t:k":"foo"}}"#, &c, true);
        check(r#"{"StringEqualsIgnoreCase":{"t:k":"fOO"}}"#, &c, true);
        check(r#"{"StringNotEqualsIgnoreCase":{"t:k":"fOO"}}"#, &c, false);
        check(r#"{"StringLike":{"t:k":"F?o*"}}"#, &c, true);
        check(r#"{"StringNotLike":{"t:k":"f*"}}"#, &c, true);
        // Missing key: positive false, negated true, IfExists true.
        let e = Context::new();
        check(r#"{"StringEquals":{"t:k":"Foo"}}"#, &e, false);
        check(r#"{"StringNotEquals":{"t:k":"Foo"}}"#, &e, true);
        check(r#"{"StringNotLike":{"t:k":"*"}}"#, &e, true);
        check(r#"{"StringEqualsIfExists":{"t:k":"Foo"}}"#, &e, true);
        check(r#"{"StringEqualsIfExists":{"t:k":"x"}}"#, &c, false);
        // Several keys are AND'ed.
        check(r#"{"StringEquals":{"t:k":"Foo","t:j":"x"}}"#, &c, false);
    }

    #[test]
    fn set_operators() {
        let tags = ctx(&[("aws:TagKeys", &["a", "t:b"])]);
        check(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","t:b","c"]}}"#,
            &tags,
            true,
        );
        check(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}"#,
            &tags,
            false,
        );
        check(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["t:b","z"]}}"#,
            &tags,
            true,
        );
        check(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["z"]}}"#,
            &tags,
            false,
        );
        check(
            r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["z"]}}"#,
            &tags,
            true,
        );
        check(
            r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a"]}}"#,
            &tags,
            false,
        );
        check(
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a"]}}"#,
            &tags,
            true,
        );
        let empty = ctx(&[("aws:TagKeys", &[])]);
        let none = Context::new();
        for c in [&empty, &none] {
            check(
                r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}"#,
                c,
                true,
            );
            check(
                r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a"]}}"#,
                c,
                false,
            );
            check(
                r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":["a"]}}"#,
                c,
                true,
            );
        }
    }

    #[test]
    fn numeric_date_bool_binary() {
        let c = ctx(&[
            ("t:n", &["10"]),
            ("aws:CurrentTime", &["2024-06-01T12:00:00Z"]),
            ("aws:EpochTime", &["1717243200"]),
            ("t:b", &["TRUE"]),
            ("t:bin", &["aGVsbG8="]),
        ]);
        check(r#"{"NumericEquals":{"t:n":"10.0"}}"#, &c, true);
        check(r#"{"NumericNotEquals":{"t:n":10}}"#, &c, false);
        check(r#"{"NumericLessThan":{"t:n":"11"}}"#, &c, true);
        check(r#"{"NumericLessThanEquals":{"t:n":"10"}}"#, &c, true);
        check(r#"{"NumericGreaterThan":{"t:n":"10"}}"#, &c, false);
        check(r#"{"NumericGreaterThanEquals":{"t:n":"-5"}}"#, &c, true);
        check(
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01"}}"#,
            &c,
            true,
        );
        check(
            r#"{"DateLessThan":{"aws:CurrentTime":"2024-06-01T13:00:00+02:00"}}"#,
            &c,
            false,
        );
        check(
            r#"{"DateEquals":{"aws:CurrentTime":"1717243200"}}"#,
            &c,
            true,
        );
        check(
            r#"{"DateEquals":{"aws:EpochTime":"2024-06-01T12:00:00.000Z"}}"#,
            &c,
            true,
        );
        check(
            r#"{"DateNotEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}"#,
            &c,
            false,
        );
        check(
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}"#,
            &c,
            true,
        );
        check(
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2025-01-01"}}"#,
            &c,
            false,
        );
        check(r#"{"Bool":{"t:b":"true"}}"#, &c, true);
        check(r#"{"Bool":{"t:b":false}}"#, &c, false);
        check(r#"{"BinaryEquals":{"t:bin":"aGVsbG8"}}"#, &c, true);
        check(r#"{"BinaryEquals":{"t:bin":"aGVsbG9v"}}"#, &c, false);
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("soon"), None);
    }

    #[test]
    fn ip_and_arn_and_null() {
        let c = ctx(&[
            ("aws:SourceIp", &["203.0.113.5"]),
            ("t:v6", &["2001:db8::1"]),
            (
                "aws:SourceArn",
                &["arn:aws:sns:us-east-1:111122223333:topic"],
            ),
            ("t:present", &["x"]),
        ]);
        check(
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &c,
            true,
        );
        check(
            r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.5"]}}"#,
            &c,
            true,
        );
        check(
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &c,
            false,
        );
        check(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#, &c, true);
        check(r#"{"IpAddress":{"t:v6":"2001:db8::/32"}}"#, &c, true);
        check(r#"{"IpAddress":{"t:v6":"2001:db9::/32"}}"#, &c, false);
        check(r#"{"IpAddress":{"t:v6":"203.0.113.0/24"}}"#, &c, false);
        check(
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}"#,
            &c,
            true,
        );
        check(
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}"#,
            &c,
            true,
        );
        check(
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}"#,
            &c,
            false,
        );
        check(
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sqs:*"}}"#,
            &c,
            false,
        );
        check(
            r#"{"Null":{"t:present":"false","t:missing":"true"}}"#,
            &c,
            true,
        );
        check(r#"{"Null":{"t:present":"true"}}"#, &c, false);
    }

    #[test]
    fn variables_in_values() {
        let c = ctx(&[("s3:prefix", &["home/alice/x"]), ("t:own", &["alice"])]);
        check(
            r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#,
            &c,
            true,
        );
        check(r#"{"StringEquals":{"t:own":"${aws:username}"}}"#, &c, true);
        check(r#"{"StringEquals":{"t:own":"${aws:nothing}"}}"#, &c, false);
        check(
            r#"{"StringEquals":{"t:own":"${aws:nothing, 'alice'}"}}"#,
            &c,
            true,
        );
        check(
            r#"{"StringNotEquals":{"t:own":"${aws:nothing}"}}"#,
            &c,
            true,
        );
        check(r#"{"StringLike":{"t:own":"${*}"}}"#, &c, false);
        // Without variables (2008-10-17) the text is literal.
        let cs = conds(r#"{"StringEquals":{"t:own":"${aws:username}"}}"#, false).unwrap();
        let p = Principal::user("arn:aws:iam::111122223333:user/alice");
        assert!(!cs[0].eval(&Env::new(&c, &p)));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            r#"{"StringEqualz":{"t:k":"v"}}"#,
            r#"{"NullIfExists":{"t:k":"true"}}"#,
            r#"{"StringEquals":"v"}"#,
            r#"{"s3:prefix":"home/"}"#,
            r#"{"StringEquals":{"t:k":{"a":1}}}"#,
            r#"{"StringEquals":{"t:k":null}}"#,
            r#"{"NumericEquals":{"t:k":"ten"}}"#,
            r#"{"NumericEquals":{"t:k":"NaN"}}"#,
            r#"{"DateEquals":{"t:k":"yesterday"}}"#,
            r#"{"Bool":{"t:k":"yes"}}"#,
            r#"{"Null":{"t:k":"1"}}"#,
            r#"{"BinaryEquals":{"t:k":"!!"}}"#,
            r#"{"IpAddress":{"t:k":"10.0.0.0/33"}}"#,
            r#"{"IpAddress":{"t:k":"10.0.0"}}"#,
            r#"{"IpAddress":{"t:k":"::/129"}}"#,
            r#"[]"#,
            r#"{"StringEquals":{"novendor":"v"}}"#,
            r#"{"StringEquals":{":x":"v"}}"#,
        ] {
            assert!(conds(bad, true).is_err(), "{bad}");
        }
        let e = conds(r#"{"StringEqualz":{"t:k":"v"}}"#, true).unwrap_err();
        assert_eq!(e.message(), "Invalid Condition type : StringEqualz");
        // A key written without its operator is a syntax error, as IAM reports it.
        let e = conds(r#"{"s3:prefix":"home/"}"#, true).unwrap_err();
        assert_eq!(e.message(), "Syntax errors in policy.");
    }
}
