//! An S3-compatible store deciding its own requests with gatehouse-policy.
//!
//! Run with `cargo run -p gatehouse-policy --example embed`.

use gatehouse_policy::{
    Context, NamedPolicy, Policy, PolicyError, PolicyKind, PolicySet, Principal, Request, authorize,
};

fn main() -> Result<(), PolicyError> {
    // Compile once, at startup or when a policy changes; share with Arc.
    let alice_policy = Policy::parse(
        r#"{
          "Version": "2012-10-17",
          "Statement": [{
            "Sid": "OwnPrefix",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::shared/home/${aws:username}/*"
          }]
        }"#,
        PolicyKind::Identity,
    )?;
    let bucket_policy = Policy::parse(
        r#"{
          "Version": "2012-10-17",
          "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
          }]
        }"#,
        PolicyKind::Resource,
    )?;

    let set = PolicySet {
        identity: vec![NamedPolicy::new("user/alice/home", alice_policy)],
        resource: Some(NamedPolicy::new("bucket/shared", bucket_policy)),
        ..PolicySet::default()
    };
    let alice = Principal::user("arn:aws:iam::111122223333:user/alice");

    for (resource, tls) in [
        ("arn:aws:s3:::shared/home/alice/notes.txt", true),
        ("arn:aws:s3:::shared/home/bob/notes.txt", true),
        ("arn:aws:s3:::shared/home/alice/notes.txt", false),
    ] {
        // The store fills the context from the request it is serving; time is passed in too.
        let context = Context::new()
            .with("aws:SecureTransport", if tls { "true" } else { "false" })
            .with("aws:CurrentTime", "2026-01-01T00:00:00Z");
        let request = Request {
            principal: &alice,
            action: "s3:GetObject",
            resource,
            resource_account: Some("111122223333"),
            context: &context,
        };
        let decision = authorize(&set, &request);
        println!("{resource} tls={tls}: {:?}", decision.outcome);
        for m in &decision.matched {
            println!(
                "  {:?} by {} statement {} ({:?})",
                m.effect, m.policy, m.index, m.sid
            );
        }
    }

    // Validation errors carry AWS's code and message, and where the problem is.
    if let Err(e) = Policy::parse(r#"{"Statement": {"Action": "s3:*"}}"#, PolicyKind::Identity) {
        println!("{}: {}", e.code(), e);
    }
    Ok(())
}
