//! `gatehouse policy check` and `gatehouse policy simulate`: the policy engine offline, for
//! people with no server running. Same engine, same messages as the API.

use std::fmt::Write as _;

use gatehouse_policy::{
    Context, NamedPolicy, Outcome, Policy, PolicyKind, PolicySet, Principal, Request, TypeDecision,
    policy_size,
};

pub const USAGE: &str = "\
gatehouse policy check [--kind KIND] FILE...
gatehouse policy simulate --policy FILE... [--boundary FILE] [--session-policy FILE]
                          [--resource-policy FILE] [--scp FILE[,FILE...]]...
                          [--rcp FILE[,FILE...]]... [--principal ARN] [--resource-account ID]
                          --action ACTION --resource ARN [--context KEY=TYPE:VALUE...] [--json]

KIND: identity (default), resource, trust, boundary, session, scp, rcp
TYPE: string, stringList, numeric, numericList, boolean, booleanList, date, dateList, ip,
      ipList, binary, binaryList (a list's values are separated by commas); without TYPE: the
      value is one string
--scp, --rcp: one flag per level of the organization, root first (root, then each OU, then the
      account); the files of one level are separated by commas. Every level must allow.
simulate prints the decision and exits 0 whatever it is (Allowed, ExplicitDeny or
      ImplicitDeny); it exits 1 only on a usage error or a missing or invalid policy file.
";

fn kind(name: &str) -> Result<PolicyKind, String> {
    Ok(match name {
        "identity" => PolicyKind::Identity,
        "resource" => PolicyKind::Resource,
        "trust" => PolicyKind::Trust,
        "boundary" => PolicyKind::PermissionsBoundary,
        "session" => PolicyKind::Session,
        "scp" => PolicyKind::ServiceControl,
        "rcp" => PolicyKind::ResourceControl,
        other => return Err(format!("unknown policy kind '{other}'")),
    })
}

fn load(path: &str, kind: PolicyKind) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Policy::parse(&text, kind).map_err(|e| describe_error(path, &e))
}

fn describe_error(path: &str, e: &gatehouse_policy::PolicyError) -> String {
    let at = match (e.line(), e.column()) {
        (Some(line), Some(column)) => format!("{path}:{line}:{column}"),
        _ => path.to_string(),
    };
    format!("{at}: {}: {}", e.code(), e.message())
}

/// Checks each file; prints one line per file. Fails if any file is invalid.
pub fn check(args: &[String]) -> Result<String, String> {
    let mut kind_of = PolicyKind::Identity;
    let mut files = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--kind" => kind_of = kind(words.next().ok_or("--kind needs a value")?)?,
            file => files.push(file.to_string()),
        }
    }
    if files.is_empty() {
        return Err(format!("no policy files given\n\n{USAGE}"));
    }
    let mut out = String::new();
    let mut failures = Vec::new();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        match Policy::parse(&text, kind_of) {
            Ok(policy) => {
                let _ = writeln!(
                    out,
                    "{file}: ok ({} statements, {} characters without whitespace)",
                    policy.statement_count(),
                    policy_size(&text)
                );
            }
            Err(e) => failures.push(describe_error(file, &e)),
        }
    }
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(format!("{out}{}", failures.join("\n")))
    }
}

/// Parses `KEY=TYPE:VALUE` (or `KEY=VALUE`) into the context.
fn add_context(context: &mut Context, spec: &str) -> Result<(), String> {
    let (key, rest) = spec
        .split_once('=')
        .ok_or_else(|| format!("--context '{spec}': expected KEY=TYPE:VALUE"))?;
    const TYPES: [&str; 12] = [
        "string",
        "stringList",
        "numeric",
        "numericList",
        "boolean",
        "booleanList",
        "date",
        "dateList",
        "ip",
        "ipList",
        "binary",
        "binaryList",
    ];
    let (ty, value) = match rest.split_once(':') {
        Some((ty, value)) if TYPES.contains(&ty) => (ty, value),
        _ => ("string", rest),
    };
    if ty.ends_with("List") {
        context.set(key, value.split(',').map(str::to_string));
    } else {
        context.insert(key, value);
    }
    Ok(())
}

#[derive(Default)]
struct SimulateArgs {
    policies: Vec<String>,
    boundary: Option<String>,
    session: Vec<String>,
    resource_policy: Option<String>,
    /// SCP files, one list per organization level, root first.
    scps: Vec<Vec<String>>,
    /// RCP files, one list per organization level, root first.
    rcps: Vec<Vec<String>>,
    principal: Option<String>,
    resource_account: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    context: Context,
    json: bool,
}

/// The files of one organization level: `FILE[,FILE...]`.
fn level(flag: &str, spec: &str) -> Result<Vec<String>, String> {
    let files: Vec<String> = spec.split(',').map(str::to_string).collect();
    if files.iter().any(String::is_empty) {
        return Err(format!(
            "{flag} '{spec}': expected FILE[,FILE...] (one level's files, separated by commas)"
        ));
    }
    Ok(files)
}

fn parse_simulate(args: &[String]) -> Result<SimulateArgs, String> {
    let mut a = SimulateArgs::default();
    let mut words = args.iter().peekable();
    // Bare files extend the --policy list only right after it.
    let mut after_policy = false;
    while let Some(word) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let is_policy = word == "--policy";
        match word.as_str() {
            "--policy" => a.policies.push(value("--policy")?),
            "--scp" => a.scps.push(level("--scp", &value("--scp")?)?),
            "--rcp" => a.rcps.push(level("--rcp", &value("--rcp")?)?),
            "--boundary" => a.boundary = Some(value("--boundary")?),
            "--session-policy" => a.session.push(value("--session-policy")?),
            "--resource-policy" => a.resource_policy = Some(value("--resource-policy")?),
            "--principal" => a.principal = Some(value("--principal")?),
            "--resource-account" => a.resource_account = Some(value("--resource-account")?),
            "--action" => a.action = Some(value("--action")?),
            "--resource" => a.resource = Some(value("--resource")?),
            "--context" => add_context(&mut a.context, &value("--context")?)?,
            "--json" => a.json = true,
            // Several files may follow one --policy.
            file if !file.starts_with("--") && after_policy => a.policies.push(file.to_string()),
            other => return Err(format!("unexpected argument '{other}'\n\n{USAGE}")),
        }
        after_policy = is_policy || (after_policy && !word.starts_with("--"));
    }
    Ok(a)
}

/// Loads organization policies level by level; errors name the flag, the level and the file.
fn load_levels(
    flag: &str,
    levels: &[Vec<String>],
    kind: PolicyKind,
) -> Result<Vec<Vec<NamedPolicy>>, String> {
    levels
        .iter()
        .enumerate()
        .map(|(i, files)| {
            files
                .iter()
                .map(|path| {
                    load(path, kind)
                        .map(|p| NamedPolicy::new(path.as_str(), p))
                        .map_err(|e| format!("{flag} level {}: {e}", i + 1))
                })
                .collect()
        })
        .collect()
}

/// Names the policy types that apply but did not allow (for an implicit deny).
fn not_allowed_by(d: &gatehouse_policy::Decision) -> Vec<&'static str> {
    [
        (d.scp, "the SCPs (every level must allow)"),
        (d.rcp, "the RCPs (every level must allow)"),
        (d.boundary, "the permissions boundary"),
        (d.session, "the session policies"),
    ]
    .into_iter()
    .filter(|(t, _)| *t == TypeDecision::ImplicitDeny)
    .map(|(_, name)| name)
    .collect()
}

/// Decides one request offline and describes the decision.
pub fn simulate(args: &[String]) -> Result<String, String> {
    let a = parse_simulate(args)?;
    let action = a
        .action
        .as_deref()
        .ok_or_else(|| format!("--action is required\n\n{USAGE}"))?;
    let resource = a
        .resource
        .as_deref()
        .ok_or_else(|| format!("--resource is required\n\n{USAGE}"))?;
    let mut set = PolicySet::default();
    for path in &a.policies {
        set.identity.push(NamedPolicy::new(
            path.as_str(),
            load(path, PolicyKind::Identity)?,
        ));
    }
    if let Some(path) = &a.boundary {
        set.boundary = Some(NamedPolicy::new(
            path.as_str(),
            load(path, PolicyKind::PermissionsBoundary)?,
        ));
    }
    for path in &a.session {
        set.session.push(NamedPolicy::new(
            path.as_str(),
            load(path, PolicyKind::Session)?,
        ));
    }
    if let Some(path) = &a.resource_policy {
        set.resource = Some(NamedPolicy::new(
            path.as_str(),
            load(path, PolicyKind::Resource)?,
        ));
    }
    set.scps = load_levels("--scp", &a.scps, PolicyKind::ServiceControl)?;
    set.rcps = load_levels("--rcp", &a.rcps, PolicyKind::ResourceControl)?;
    let principal_arn = a
        .principal
        .clone()
        .unwrap_or_else(|| "arn:aws:iam::000000000000:user/simulated".into());
    let principal = if principal_arn.ends_with(":root") {
        Principal::root(principal_arn.split(':').nth(4).unwrap_or_default())
    } else {
        Principal::user(principal_arn.clone())
    };
    let request = Request {
        principal: &principal,
        action,
        resource,
        resource_account: a.resource_account.as_deref(),
        context: &a.context,
    };
    let decision = gatehouse_policy::authorize(&set, &request);
    let outcome = match decision.outcome {
        Outcome::Allowed => "Allowed",
        Outcome::ExplicitDeny => "ExplicitDeny",
        Outcome::ImplicitDeny => "ImplicitDeny",
    };
    if a.json {
        let matched: Vec<serde_json::Value> = decision
            .matched
            .iter()
            .map(|m| {
                serde_json::json!({
                    "policy": &*m.policy,
                    "sid": m.sid.as_deref(),
                    "index": m.index,
                    "effect": format!("{:?}", m.effect),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "decision": outcome,
            "action": action,
            "resource": resource,
            "principal": principal_arn,
            "matched": matched,
            "missing_context": decision.missing_context,
            "identity": format!("{:?}", decision.identity),
            "resource_policy": format!("{:?}", decision.resource),
            "boundary": format!("{:?}", decision.boundary),
            "session": format!("{:?}", decision.session),
            "scp": format!("{:?}", decision.scp),
            "rcp": format!("{:?}", decision.rcp),
        });
        return serde_json::to_string_pretty(&doc)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    let mut out = format!("{outcome}: {principal_arn} → {action} on {resource}\n");
    if decision.matched.is_empty() {
        let short = not_allowed_by(&decision);
        if short.is_empty() {
            out.push_str("  no statement matched: nothing allows this request\n");
        } else {
            let _ = writeln!(out, "  not allowed by {}", short.join(", "));
        }
    }
    for m in &decision.matched {
        let sid = m
            .sid
            .as_deref()
            .map(|s| format!(" (Sid \"{s}\")"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:?} by {} statement {}{sid}",
            m.effect, m.policy, m.index
        );
    }
    if !decision.missing_context.is_empty() {
        let _ = writeln!(
            out,
            "  context keys the policies use but the request lacks: {}",
            decision.missing_context.join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("gatehouse-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn check_reports_positions() {
        let good = write(
            "good.json",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        );
        let bad = write(
            "bad.json",
            "{\"Version\":\"2012-10-17\",\n \"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Bogus\":1}}",
        );
        assert!(
            check(std::slice::from_ref(&good))
                .unwrap()
                .contains("ok (1 statements")
        );
        let err = check(&[good, bad.clone()]).unwrap_err();
        assert!(err.contains(&format!("{bad}:2:")), "{err}");
        assert!(err.contains("MalformedPolicyDocument"), "{err}");
    }

    #[test]
    fn simulate_explains_the_decision() {
        let allow = write(
            "allow.json",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"s3:Get*","Resource":"*"},
                {"Sid":"NoDelete","Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}"#,
        );
        let args = |action: &str| -> Vec<String> {
            [
                "--policy",
                &allow,
                "--action",
                action,
                "--resource",
                "arn:aws:s3:::b/k",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let out = simulate(&args("s3:GetObject")).unwrap();
        assert!(out.starts_with("Allowed"), "{out}");
        assert!(out.contains("statement 0 (Sid \"Read\")"), "{out}");
        let out = simulate(&args("s3:DeleteObject")).unwrap();
        assert!(
            out.starts_with("ExplicitDeny") && out.contains("\"NoDelete\""),
            "{out}"
        );
        let mut json_args = args("s3:PutObject");
        json_args.push("--json".into());
        let json: serde_json::Value = serde_json::from_str(&simulate(&json_args).unwrap()).unwrap();
        assert_eq!(json["decision"], "ImplicitDeny");
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const ALLOW_S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

    #[test]
    fn simulate_scp_level_that_does_not_allow_is_an_implicit_deny() {
        let identity = write("scp-identity.json", ALLOW_S3);
        let root = write(
            "scp-root.json",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        );
        let ec2 = write(
            "scp-ec2.json",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
        );
        let s3 = write(
            "scp-s3.json",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"S3","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        );
        let run = |extra: &[&str]| {
            let mut args = words(&[
                "--policy",
                &identity,
                "--action",
                "s3:GetObject",
                "--resource",
                "arn:aws:s3:::b/k",
            ]);
            args.extend(words(extra));
            simulate(&args)
        };
        // The second level (an OU) allows only EC2: implicit deny, blamed on the SCPs.
        let out = run(&["--scp", &root, "--scp", &ec2]).unwrap();
        assert!(out.starts_with("ImplicitDeny"), "{out}");
        assert!(out.contains("not allowed by the SCPs"), "{out}");
        let json: serde_json::Value =
            serde_json::from_str(&run(&["--scp", &root, "--scp", &ec2, "--json"]).unwrap())
                .unwrap();
        assert_eq!(json["decision"], "ImplicitDeny");
        assert_eq!(json["scp"], "ImplicitDeny");
        assert_eq!(json["identity"], "Allowed");
        // One file of a level is enough for that level; every level allows now.
        let level = format!("{ec2},{s3}");
        let out = run(&["--scp", &root, "--scp", &level]).unwrap();
        assert!(out.starts_with("Allowed"), "{out}");
        assert!(
            out.contains(&format!("{s3} statement 0 (Sid \"S3\")")),
            "{out}"
        );
        // The same files as one level: that level allows.
        let one_level = format!("{root},{ec2}");
        assert!(run(&["--scp", &one_level]).unwrap().starts_with("Allowed"));
        // Bare files after --scp are not identity policies.
        let err = run(&["--scp", &ec2, &s3]).unwrap_err();
        assert!(
            err.contains(&format!("unexpected argument '{s3}'")),
            "{err}"
        );
        let err = run(&["--scp", &format!("{root},")]).unwrap_err();
        assert!(err.contains("FILE[,FILE...]"), "{err}");
    }

    #[test]
    fn simulate_rcp_deny_is_an_explicit_deny() {
        let identity = write("rcp-identity.json", ALLOW_S3);
        let rcp = write(
            "rcp.json",
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},
                {"Sid":"NoPlainHttp","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*",
                 "Condition":{"BoolIfExists":{"aws:SecureTransport":"false"}}}]}"#,
        );
        let args = |secure: &str| {
            words(&[
                "--policy",
                &identity,
                "--rcp",
                &rcp,
                "--action",
                "s3:GetObject",
                "--resource",
                "arn:aws:s3:::b/k",
                "--context",
                &format!("aws:SecureTransport=boolean:{secure}"),
                "--json",
            ])
        };
        let json: serde_json::Value =
            serde_json::from_str(&simulate(&args("false")).unwrap()).unwrap();
        assert_eq!(json["decision"], "ExplicitDeny");
        assert_eq!(json["rcp"], "ExplicitDeny");
        assert_eq!(json["matched"][0]["policy"], rcp.as_str());
        assert_eq!(json["matched"][0]["sid"], "NoPlainHttp");
        let json: serde_json::Value =
            serde_json::from_str(&simulate(&args("true")).unwrap()).unwrap();
        assert_eq!(json["decision"], "Allowed");
        assert_eq!(json["rcp"], "Allowed");
    }

    #[test]
    fn simulate_missing_level_file_names_the_path() {
        let scp_root = write(
            "missing-scp-root.json",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        );
        let rcp_root = write(
            "missing-rcp-root.json",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
        );
        let missing = std::env::temp_dir()
            .join(format!(
                "gatehouse-cli-{}-no-such-ou.json",
                std::process::id()
            ))
            .to_string_lossy()
            .into_owned();
        for (flag, root) in [("--scp", scp_root), ("--rcp", rcp_root)] {
            let level = format!("{root},{missing}");
            let err = simulate(&words(&[
                flag,
                &root,
                flag,
                &level,
                "--action",
                "s3:GetObject",
                "--resource",
                "arn:aws:s3:::b/k",
            ]))
            .unwrap_err();
            assert!(err.contains(&missing), "{err}");
            assert!(err.starts_with(&format!("{flag} level 2: ")), "{err}");
        }
        // An invalid document at a level names the file too (an SCP must not name a principal).
        let bad = write(
            "bad-scp.json",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
        );
        let err = simulate(&words(&[
            "--scp",
            &bad,
            "--action",
            "s3:GetObject",
            "--resource",
            "arn:aws:s3:::b/k",
        ]))
        .unwrap_err();
        assert!(err.starts_with(&format!("--scp level 1: {bad}")), "{err}");
    }

    #[test]
    fn context_specs() {
        let mut c = Context::new();
        add_context(&mut c, "aws:SourceIp=ip:10.0.0.1").unwrap();
        add_context(&mut c, "aws:TagKeys=stringList:a,b").unwrap();
        add_context(&mut c, "k=v:w").unwrap();
        assert_eq!(c.get("aws:sourceip").unwrap(), ["10.0.0.1"]);
        assert_eq!(c.get("aws:TagKeys").unwrap(), ["a", "b"]);
        assert_eq!(c.get("k").unwrap(), ["v:w"]);
        assert!(add_context(&mut c, "novalue").is_err());
    }
}
