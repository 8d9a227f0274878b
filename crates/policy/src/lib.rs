//! # gatehouse-policy
//!
//! The AWS IAM policy language: parse and validate policy documents with AWS's rules, compile
//! them once, and decide requests with AWS's policy evaluation logic — identity-based
//! policies, resource-based and trust policies, permissions boundaries, session policies,
//! service control policies and resource control policies.
//!
//! The crate is pure: no I/O, no clock, no environment. Everything a decision depends on —
//! the principal, the action, the resource, the current time and every other condition key —
//! is passed in by the caller.
//!
//! ```
//! use gatehouse_policy::{authorize, Context, NamedPolicy, Outcome, Policy, PolicyKind,
//!                        PolicySet, Principal, Request};
//!
//! let doc = r#"{"Version": "2012-10-17", "Statement": [{
//!     "Effect": "Allow", "Action": "s3:GetObject",
//!     "Resource": "arn:aws:s3:::photos/${aws:username}/*"}]}"#;
//! let policy = Policy::parse(doc, PolicyKind::Identity)?;
//! let set = PolicySet {
//!     identity: vec![NamedPolicy::new("alice-photos", policy)],
//!     ..PolicySet::default()
//! };
//! let alice = Principal::user("arn:aws:iam::111122223333:user/alice");
//! let context = Context::new().with("aws:SourceIp", "203.0.113.5");
//! let request = Request {
//!     principal: &alice,
//!     action: "s3:GetObject",
//!     resource: "arn:aws:s3:::photos/alice/cat.jpg",
//!     resource_account: None,
//!     context: &context,
//! };
//! assert_eq!(authorize(&set, &request).outcome, Outcome::Allowed);
//! # Ok::<(), gatehouse_policy::PolicyError>(())
//! ```
//!
//! To decide many requests against the same policies, compile the set once with
//! [`CompiledPolicySet::new`]: [`CompiledPolicySet::authorize`] returns the same decisions
//! with one index across all the set's policies, so its cost does not grow with statements
//! that cannot match the request.
//!
//! ## Architecture invariants
//! - No I/O and no clock reads; `authorize` is a pure function of its arguments.
//! - Parsing never panics on any input; evaluation never panics.
//! - The public API is this file's re-exports; everything else is private.

mod compiled;
mod condition;
mod error;
mod eval;
mod json;
mod pattern;
mod policy;
mod request;

pub use compiled::CompiledPolicySet;
pub use error::PolicyError;
pub use eval::{
    Decision, MatchedStatement, NamedPolicy, Outcome, PolicySet, TypeDecision, authorize,
};
pub use policy::{Effect, Policy, PolicyKind, Version, policy_size};
pub use request::{Context, Principal, PrincipalKind, Request};

#[cfg(test)]
mod tests {
    /// Compiled policies are shared across threads.
    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Policy>();
        check::<super::PolicySet>();
        check::<super::CompiledPolicySet>();
        check::<super::Decision>();
        check::<super::Context>();
        check::<super::Principal>();
        check::<super::PolicyError>();
    }
}
