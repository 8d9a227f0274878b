//! The benchmark workload, shared by every engine compared in `decide.rs`.
//!
//! [`workload`] returns the policy documents as JSON as well as the compiled set and the
//! requests, so another engine (Cedar) can translate the same documents.

use gatehouse_policy::{Context, NamedPolicy, Policy, PolicyKind, PolicySet, Principal};

/// A deterministic pseudo-random generator (xorshift64*), so workloads are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const SERVICES: &[(&str, &[&str])] = &[
    (
        "s3",
        &[
            "GetObject",
            "PutObject",
            "ListBucket",
            "DeleteObject",
            "GetObjectTagging",
        ],
    ),
    (
        "ec2",
        &[
            "DescribeInstances",
            "RunInstances",
            "TerminateInstances",
            "DescribeVpcs",
        ],
    ),
    ("iam", &["GetUser", "ListUsers", "CreateUser", "PassRole"]),
    ("dynamodb", &["GetItem", "PutItem", "Query", "Scan"]),
    ("sqs", &["SendMessage", "ReceiveMessage", "DeleteMessage"]),
    ("sns", &["Publish", "Subscribe"]),
    (
        "lambda",
        &["InvokeFunction", "GetFunction", "UpdateFunctionCode"],
    ),
    ("kms", &["Decrypt", "Encrypt", "GenerateDataKey"]),
    ("logs", &["PutLogEvents", "CreateLogStream"]),
    ("sts", &["AssumeRole", "GetCallerIdentity"]),
];

const ACCOUNT: &str = "111122223333";

fn resource_for(service: &str, n: usize) -> String {
    match service {
        "s3" => format!("arn:aws:s3:::bucket-{n}/data/file-{n}.csv"),
        "iam" => format!("arn:aws:iam::{ACCOUNT}:user/team-{n}/user-{n}"),
        "dynamodb" => format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/table-{n}"),
        _ => format!("arn:aws:{service}:us-east-1:{ACCOUNT}:thing/thing-{n}"),
    }
}

/// One generated statement as JSON: wildcards, variables and conditions mixed.
fn statement(rng: &mut Rng, i: usize) -> String {
    let (service, actions) = SERVICES[rng.below(SERVICES.len())];
    let effect = if rng.below(10) == 0 { "Deny" } else { "Allow" };
    let action = match rng.below(4) {
        0 => format!("\"{service}:*\""),
        1 => {
            let a = actions[rng.below(actions.len())];
            format!("\"{service}:{}*\"", &a[..3])
        }
        _ => {
            let a = actions[rng.below(actions.len())];
            let b = actions[rng.below(actions.len())];
            format!("[\"{service}:{a}\", \"{service}:{b}\"]")
        }
    };
    let n = rng.below(50);
    let resource = match (service, rng.below(4)) {
        (_, 0) => "\"*\"".to_string(),
        ("s3", 1) => format!("\"arn:aws:s3:::bucket-{n}/${{aws:username}}/*\""),
        ("s3", _) => format!("[\"arn:aws:s3:::bucket-{n}\", \"arn:aws:s3:::bucket-{n}/*\"]"),
        ("iam", _) => format!("\"arn:aws:iam::{ACCOUNT}:user/team-{n}/*\""),
        (_, _) => format!("\"arn:aws:{service}:*:{ACCOUNT}:*-{n}\""),
    };
    let condition = match rng.below(6) {
        0 => {
            r#", "Condition": {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}"#
        }
        1 => r#", "Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "10.0.0.0/8"]}}"#,
        2 => {
            r#", "Condition": {"Bool": {"aws:SecureTransport": "true"}, "StringLike": {"aws:PrincipalTag/team": "team-*"}}"#
        }
        3 => r#", "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
        _ => "",
    };
    format!(
        r#"{{"Sid": "S{i}", "Effect": "{effect}", "Action": {action}, "Resource": {resource}{condition}}}"#
    )
}

/// A reproducible workload: `policies` identity policies of `statements` statements each, and
/// requests that hit a mix of allows, denies and misses.
pub struct Workload {
    /// The policy documents, as JSON.
    pub documents: Vec<String>,
    /// The same documents, compiled as identity policies.
    pub set: PolicySet,
    pub principal: Principal,
    pub context: Context,
    /// `(action, resource)` pairs.
    pub requests: Vec<(String, String)>,
}

#[expect(
    clippy::expect_used,
    reason = "generated policies are valid; a failure is a bug here"
)]
pub fn workload(policies: usize, statements: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut documents = Vec::with_capacity(policies);
    let mut set = PolicySet::default();
    for p in 0..policies {
        let stmts: Vec<String> = (0..statements).map(|i| statement(&mut rng, i)).collect();
        let doc = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
            stmts.join(",\n")
        );
        let policy = Policy::parse(&doc, PolicyKind::Identity).expect("generated policy parses");
        set.identity.push(NamedPolicy::new(
            format!("arn:aws:iam::{ACCOUNT}:policy/p{p}"),
            policy,
        ));
        documents.push(doc);
    }
    let principal = Principal::user(format!("arn:aws:iam::{ACCOUNT}:user/team-7/alice"));
    let context = Context::new()
        .with("aws:RequestedRegion", "us-east-1")
        .with("aws:SourceIp", "203.0.113.9")
        .with("aws:SecureTransport", "true")
        .with("aws:PrincipalTag/team", "team-7")
        .with("aws:CurrentTime", "2026-11-22T10:00:00Z");
    let requests = (0..64)
        .map(|_| {
            let (service, actions) = SERVICES[rng.below(SERVICES.len())];
            let action = format!("{service}:{}", actions[rng.below(actions.len())]);
            (action, resource_for(service, rng.below(50)))
        })
        .collect();
    Workload {
        documents,
        set,
        principal,
        context,
        requests,
    }
}
