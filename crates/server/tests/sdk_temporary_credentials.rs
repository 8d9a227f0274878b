//! The Rust AWS SDK against a real server: a virtual MFA device (its seed and QR code as the
//! SDK decodes them), a role that requires MFA assumed with a code, that code refused a second
//! time, and the role session's temporary credentials used for IAM and STS.

mod common;

use aws_sdk_iam::error::ProvideErrorMetadata as _;
use common::{ACCOUNT, ROOT_KEY_ID, ROOT_SECRET, Server, iam_client, iam_session_client};
use common::{sts_client, sts_session_client};
use gatehouse_core::mfa::totp;

#[allow(
    clippy::unwrap_used,
    reason = "a test helper: a failure must stop the test"
)]
fn unix_now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_requiring_mfa_with_the_rust_sdk() {
    let server = Server::start("mfa-sdk");
    let root = iam_client(&server.endpoint, ROOT_KEY_ID, ROOT_SECRET);
    root.create_user().user_name("carol").send().await.unwrap();
    root.put_user_policy()
        .user_name("carol")
        .policy_name("assume")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let key = root
        .create_access_key()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();

    let created = root
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("carol-phone")
        .send()
        .await
        .unwrap();
    let device = created.virtual_mfa_device().unwrap();
    let serial = device.serial_number().to_string();
    assert_eq!(serial, format!("arn:aws:iam::{ACCOUNT}:mfa/carol-phone"));
    let seed_text =
        String::from_utf8(device.base32_string_seed().unwrap().as_ref().to_vec()).unwrap();
    assert_eq!(seed_text.len(), 64);
    assert!(
        device
            .qr_code_png()
            .unwrap()
            .as_ref()
            .starts_with(b"\x89PNG\r\n\x1a\n")
    );
    let seed = totp::base32_decode(&seed_text).unwrap();
    let step = totp::step_at(unix_now());
    root.enable_mfa_device()
        .user_name("carol")
        .serial_number(&serial)
        .authentication_code1(totp::code_for_step(&seed, step - 1))
        .authentication_code2(totp::code_for_step(&seed, step))
        .send()
        .await
        .unwrap();
    let listed = root
        .list_mfa_devices()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.mfa_devices().len(), 1);
    assert_eq!(listed.mfa_devices()[0].serial_number(), serial);

    root.create_role()
        .role_name("guarded")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"sts:AssumeRole","Condition":{{"Bool":{{"aws:MultiFactorAuthPresent":"true"}}}}}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    root.put_role_policy()
        .role_name("guarded")
        .policy_name("read")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/guarded");
    let carol = sts_client(
        &server.endpoint,
        key.access_key_id(),
        key.secret_access_key(),
    );
    let without = carol
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(without.code(), Some("AccessDenied"));

    // The next step's code: within a step of the device's clock, whichever side of a step
    // boundary these calls fall.
    let code = totp::code_for_step(&seed, step + 1);
    let assumed = carol
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("with-mfa")
        .serial_number(&serial)
        .token_code(&code)
        .send()
        .await
        .unwrap();
    let credentials = assumed.credentials().unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"));
    let again = carol
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("replayed")
        .serial_number(&serial)
        .token_code(&code)
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("AccessDenied"));
    assert_eq!(
        again.message(),
        Some("MultiFactorAuthentication failed with invalid MFA one time pass code.")
    );

    let session_sts = sts_session_client(
        &server.endpoint,
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token()),
    );
    let me = session_sts.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/guarded/with-mfa").as_str())
    );
    let session_iam = iam_session_client(
        &server.endpoint,
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token()),
    );
    let user = session_iam
        .get_user()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(user.user().unwrap().user_name(), "carol");
    // Without its session token the key is nothing.
    let tokenless = iam_client(
        &server.endpoint,
        credentials.access_key_id(),
        credentials.secret_access_key(),
    );
    let refused = tokenless
        .get_user()
        .user_name("carol")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidClientTokenId"));
}
