"""Minimal valid inputs for any IAM or STS operation, built from botocore's service model.

Only required members are filled. Strings are picked from a list of candidates and checked
against the member's length bounds and pattern (AWS's patterns are Java regular expressions,
matched against the whole value), so each input passes AWS's own validation.
"""

import datetime

try:  # `regex` understands \\p{L}; without it the classes AWS uses are narrowed to ASCII.
    import regex as _re

    def _compile(pattern):
        return _re.compile(pattern)
except ImportError:  # pragma: no cover
    import re as _re

    def _compile(pattern):
        # A conservative subset: a candidate matching it matches the real class too.
        for cls, sub in (("\\p{L}", "a-zA-Z"), ("\\p{Z}", " "), ("\\p{N}", "0-9"), ("\\p{M}", ""),
                         ("\\p{S}", "+"), ("\\p{P}", "._")):
            pattern = pattern.replace(cls, sub)
        return _re.compile(pattern)


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether `value` matches the whole of an AWS model pattern (a Java regular expression).

    Java's `\\uXXXX` escapes mean the same to Python's engines. Java's `\\w` is ASCII-only
    where Python's is Unicode, which agrees on the ASCII candidates used here.
    """
    return _compile(pattern).fullmatch(value) is not None


ACCOUNT = "000000000000"

CANDIDATES = [
    "a",
    "/",
    "arn:aws:iam::000000000000:policy/p",
    "arn:aws:iam::000000000000:role/r",
    "arn:aws:iam::000000000000:user/u",
    "arn:aws:iam::000000000000:saml-provider/s",
    "arn:aws:iam::000000000000:oidc-provider/example.com",
    "arn:aws:iam::000000000000:mfa/m",
    "arn:aws:iam::aws:policy/p",
    '{"Version":"2012-10-17","Statement":[]}',
    "{}",
    "AKIAAAAAAAAAAAAAAAAA",
    "ASCAAAAAAAAAAAAAAAAA",
    "https://example.com",
    "example.com",
    "123456",
    "1",
    "v1",
    "a@example.com",
    "iam.amazonaws.com",
    "s3",
    "a:a",
    "000000000000",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "0" * 40,
    "A",
    "ab",
    "o-aaaaaaaaaa/r-aaaa",
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
]


def _fit(candidate: str, lo: int, hi: int | None):
    """`candidate` stretched to at least `lo` characters in a few ways."""
    yield candidate
    if len(candidate) < lo:
        yield candidate + "a" * (lo - len(candidate))
        yield candidate * (lo // max(len(candidate), 1) + 1)
        yield candidate[0] * lo


def string_value(shape, member_name: str = ""):
    if shape.enum:
        return shape.enum[0]
    meta = shape.metadata
    lo, hi, pattern = meta.get("min", 0), meta.get("max"), meta.get("pattern")
    lowered = member_name.lower()
    preferred = []
    if "document" in lowered or "policy" == lowered:
        preferred.append('{"Version":"2012-10-17","Statement":[]}')
    if lowered.endswith("arn") or "arn" in lowered:
        preferred += [c for c in CANDIDATES if c.startswith("arn:")]
    if "path" in lowered:
        preferred.append("/")
    for candidate in preferred + CANDIDATES:
        for value in _fit(candidate, lo, hi):
            if len(value) < lo or (hi is not None and len(value) > hi):
                continue
            if pattern is None or pattern_matches(pattern, value):
                return value
    raise ValueError(f"no candidate satisfies {shape.name} {meta}")


def build(shape, member_name: str = "", depth: int = 0):
    kind = shape.type_name
    if kind == "structure":
        return {name: build(shape.members[name], name, depth + 1) for name in shape.required_members}
    if kind == "list":
        count = max(1, shape.metadata.get("min", 1))
        return [build(shape.member, member_name, depth + 1) for _ in range(count)]
    if kind == "map":
        return {build(shape.key, "key", depth + 1): build(shape.value, "value", depth + 1)}
    if kind == "string":
        return string_value(shape, member_name)
    if kind in ("integer", "long"):
        return shape.metadata.get("min", 1)
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime.datetime.now(datetime.timezone.utc)
    if kind == "blob":
        return b"a" * max(1, shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return float(shape.metadata.get("min", 1))
    raise ValueError(f"unsupported shape type {kind}")


def minimal_input(operation_model) -> dict:
    if operation_model.input_shape is None:
        return {}
    return build(operation_model.input_shape)
