//! The Rust AWS SDK against a real server: users, access keys, rotation, STS identity.

mod common;

use aws_sdk_iam::error::ProvideErrorMetadata;
use common::{ACCOUNT, ROOT_KEY_ID, ROOT_SECRET, Server, iam_client, sts_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_with_the_rust_sdk() {
    let server = Server::start("rotation");
    let root = iam_client(&server.endpoint, ROOT_KEY_ID, ROOT_SECRET);

    let created = root
        .create_user()
        .user_name("bob")
        .path("/eng/")
        .send()
        .await
        .unwrap();
    let user = created.user().unwrap();
    assert_eq!(user.user_name(), "bob");
    assert_eq!(user.path(), "/eng/");
    assert_eq!(user.arn(), format!("arn:aws:iam::{ACCOUNT}:user/eng/bob"));
    assert!(
        user.user_id().starts_with("AIDA") && user.user_id().len() == 21,
        "{}",
        user.user_id()
    );

    let first = root
        .create_access_key()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    let first = first.access_key().unwrap();
    assert_eq!(first.user_name(), "bob");
    assert!(first.access_key_id().starts_with("AKIA") && first.access_key_id().len() == 20);
    assert_eq!(first.secret_access_key().len(), 40);

    // A new key works at once.
    let as_bob = sts_client(
        &server.endpoint,
        first.access_key_id(),
        first.secret_access_key(),
    );
    let me = as_bob.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/eng/bob").as_str())
    );
    assert_eq!(me.user_id(), Some(user.user_id()));
    assert_eq!(me.account(), Some(ACCOUNT));

    // Without policies, bob may not use IAM.
    let bob_iam = iam_client(
        &server.endpoint,
        first.access_key_id(),
        first.secret_access_key(),
    );
    let denied = bob_iam.list_users().send().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDenied"), "{denied:?}");

    let second = root
        .create_access_key()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    let second = second.access_key().unwrap();
    let third = root
        .create_access_key()
        .user_name("bob")
        .send()
        .await
        .unwrap_err();
    assert_eq!(third.code(), Some("LimitExceeded"));
    assert_eq!(
        third.message(),
        Some("Cannot exceed quota for AccessKeysPerUser: 2")
    );

    root.delete_access_key()
        .user_name("bob")
        .access_key_id(first.access_key_id())
        .send()
        .await
        .unwrap();
    let refused = as_bob.get_caller_identity().send().await.unwrap_err();
    assert_eq!(refused.code(), Some("InvalidClientTokenId"), "{refused:?}");

    let as_bob_again = sts_client(
        &server.endpoint,
        second.access_key_id(),
        second.secret_access_key(),
    );
    assert!(as_bob_again.get_caller_identity().send().await.is_ok());

    let listed = root
        .list_access_keys()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    assert_eq!(ids, [second.access_key_id()]);
    assert!(!listed.is_truncated());

    let used = root
        .get_access_key_last_used()
        .access_key_id(second.access_key_id())
        .send()
        .await
        .unwrap();
    let last = used.access_key_last_used().unwrap();
    assert_eq!(last.service_name(), "sts");
    assert_eq!(last.region(), "us-east-1");
    assert!(last.last_used_date().is_some());

    let conflict = root
        .delete_user()
        .user_name("bob")
        .send()
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Some("DeleteConflict"));
    root.delete_access_key()
        .user_name("bob")
        .access_key_id(second.access_key_id())
        .send()
        .await
        .unwrap();
    root.delete_user().user_name("bob").send().await.unwrap();
    let gone = root.get_user().user_name("bob").send().await.unwrap_err();
    assert_eq!(gone.code(), Some("NoSuchEntity"));
    assert_eq!(
        gone.message(),
        Some("The user with name bob cannot be found.")
    );

    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_list_page_and_rename() {
    let server = Server::start("users");
    let root = iam_client(&server.endpoint, ROOT_KEY_ID, ROOT_SECRET);
    for i in 0..7 {
        let path = if i % 2 == 0 { "/even/" } else { "/odd/" };
        root.create_user()
            .user_name(format!("user{i}"))
            .path(path)
            .send()
            .await
            .unwrap();
    }
    let dup = root
        .create_user()
        .user_name("USER3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Some("EntityAlreadyExists"));
    assert_eq!(dup.message(), Some("User with name USER3 already exists."));

    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = root
            .list_users()
            .max_items(3)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        names.extend(page.users().iter().map(|u| u.user_name().to_string()));
        if !page.is_truncated() {
            assert!(page.marker().is_none());
            break;
        }
        marker = page.marker().map(str::to_string);
        assert!(marker.is_some());
    }
    assert_eq!(
        names,
        [
            "user0", "user1", "user2", "user3", "user4", "user5", "user6"
        ]
    );

    let odd = root.list_users().path_prefix("/odd/").send().await.unwrap();
    assert_eq!(odd.users().len(), 3);

    root.update_user()
        .user_name("user1")
        .new_user_name("renamed")
        .new_path("/moved/")
        .send()
        .await
        .unwrap();
    let renamed = root.get_user().user_name("RENAMED").send().await;
    assert!(renamed.is_ok(), "lookups are case-insensitive");
    let renamed = renamed.unwrap();
    assert_eq!(
        renamed.user().unwrap().arn(),
        format!("arn:aws:iam::{ACCOUNT}:user/moved/renamed")
    );
    assert_eq!(
        root.get_user()
            .user_name("user1")
            .send()
            .await
            .unwrap_err()
            .code(),
        Some("NoSuchEntity")
    );

    root.tag_user()
        .user_name("renamed")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("équipe: a/b=c+d-e@f")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let tags = root
        .list_user_tags()
        .user_name("renamed")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].value(), "équipe: a/b=c+d-e@f");
    root.untag_user()
        .user_name("renamed")
        .tag_keys("TEAM")
        .send()
        .await
        .unwrap();
    assert!(
        root.list_user_tags()
            .user_name("renamed")
            .send()
            .await
            .unwrap()
            .tags()
            .is_empty()
    );

    let bad = root
        .create_user()
        .user_name("x".repeat(65))
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("ValidationError"));
    let expected = format!(
        "1 validation error detected: Value '{}' at 'userName' failed to satisfy constraint: \
         Member must have length less than or equal to 64",
        "x".repeat(65)
    );
    assert_eq!(bad.message(), Some(expected.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_identity_and_unknown_keys() {
    let server = Server::start("root");
    let sts = sts_client(&server.endpoint, ROOT_KEY_ID, ROOT_SECRET);
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(me.user_id(), Some(ACCOUNT));

    let stranger = sts_client(&server.endpoint, "AKIAUNKNOWNKEY000000", ROOT_SECRET);
    let err = stranger.get_caller_identity().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));

    let wrong_secret = sts_client(
        &server.endpoint,
        ROOT_KEY_ID,
        "not-the-secret-not-the-secret-not-the-se",
    );
    let err = wrong_secret.get_caller_identity().send().await.unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));

    let root = iam_client(&server.endpoint, ROOT_KEY_ID, ROOT_SECRET);
    // An operation that stays unimplemented (it needs a language model).
    let err = root
        .get_human_readable_summary()
        .entity_arn("arn:aws:iam::123456789012:user/nobody")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NotImplemented"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(501));
}
