//! Encoded authorization failure messages, an option (`GATEHOUSE_ENCODE_AUTHORIZATION_MESSAGES`):
//! AWS's IAM and STS denials carry none, but EC2-style "Encoded authorization failure message:
//! …" suffixes tell an operator which statement or missing permission decided. The message is
//! sealed under the master key (only Gatehouse can read it, and no caller can forge one), and
//! `sts:DecodeAuthorizationMessage` opens it for callers allowed that action.

use gatehouse_policy::{Context, Decision, Effect};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_store::Txn;
use gatehouse_types::SecretKey;
use serde_json::{Value, json};

use crate::Gatehouse;

/// The associated data every encoded message is sealed with.
const MESSAGE_CONTEXT: &str = "gatehouse authorization message";

/// What a denial decided, for its encoded message.
pub(crate) struct Denial<'a> {
    pub principal_id: String,
    pub principal_arn: &'a str,
    pub action: &'a str,
    pub resource: &'a str,
    pub decision: Option<&'a Decision>,
    pub context: &'a Context,
}

impl Gatehouse {
    /// Turns encoded authorization failure messages on (`serve` reads the option).
    pub fn encode_authorization_messages(&mut self, on: bool) {
        self.encode_denials = on;
    }

    /// `error` (an AccessDenied) with its encoded message appended, when the option is on.
    pub(crate) fn with_encoded_message(
        &self,
        t: &mut dyn Txn,
        error: ApiError,
        denial: &Denial<'_>,
    ) -> ApiError {
        if !self.encode_denials {
            return error;
        }
        let mut conditions: Vec<Value> = denial
            .context
            .iter()
            .map(|(key, values)| {
                json!({
                    "key": key,
                    "values": { "items": values.iter().map(|v| json!({ "value": v })).collect::<Vec<_>>() },
                })
            })
            .collect();
        conditions.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
        let matched: Vec<Value> = denial
            .decision
            .map(|d| d.matched.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|m| {
                json!({
                    "statementId": m.sid.as_deref(),
                    "effect": match m.effect { Effect::Allow => "ALLOW", Effect::Deny => "DENY" },
                    "principals": { "items": [] },
                    "policyId": &*m.policy,
                    "index": m.index,
                })
            })
            .collect();
        let message = json!({
            "allowed": false,
            "explicitDeny": !matched.is_empty(),
            "matchedStatements": { "items": matched },
            "failures": { "items": [] },
            "context": {
                "principal": { "id": denial.principal_id, "arn": denial.principal_arn },
                "action": denial.action,
                "resource": denial.resource,
                "conditions": { "items": conditions },
            },
        })
        .to_string();
        match self.seal(t, &SecretKey::new(message), MESSAGE_CONTEXT) {
            Ok(sealed) => ApiError::new(
                error.code,
                format!(
                    "{} Encoded authorization failure message: {sealed}",
                    error.message
                ),
            ),
            // A message that cannot be sealed is left out, not the denial.
            Err(_) => error,
        }
    }

    /// The decoded message of an encoded one this Gatehouse made.
    pub(crate) fn decode_authorization_message(&self, encoded: &str) -> Result<String, ApiError> {
        self.master_keys
            .open(encoded.trim(), MESSAGE_CONTEXT)
            .map(|text| text.expose().to_string())
            .map_err(|()| {
                ApiError::new(
                    ErrorCode::InvalidAuthorizationMessageException,
                    "The encoded authorization message is invalid or was not issued by this \
                     service.",
                )
            })
    }
}
