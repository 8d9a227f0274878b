//! Which master key seals new secrets, and rotating every secret to a new key while nodes serve.
//!
//! `meta/master_key_id` names the active key once a rotation has run. Every seal reads it inside
//! the transaction that stores the sealed value, so a seal and a rotation's switch are ordered
//! like any two transactions: a value committed before the switch is found by the re-sealing
//! scans that follow it, and one committed after is already under the new key. A node not
//! given the active key refuses to start, and refuses to seal (it could not open what it
//! wrote). A store never rotated has no active key id: its values are sealed under its
//! original key in the previous release's format (bare hex, no key id), so that nodes of that
//! release keep opening them during a rolling upgrade; a rotation needs every node on this
//! release anyway (its phase 1 restarts them all).
//!
//! Rotation, in two phases:
//! 1. every node restarts given both keys (`GATEHOUSE_MASTER_KEY` and
//!    `GATEHOUSE_MASTER_KEY_NEXT`): it opens values sealed under either and still seals under
//!    the active (old) key, so nodes not yet restarted keep working;
//! 2. `gatehouse master-key rotate` makes the new key active, then re-seals every secret in
//!    batches, scanning again until a pass finds nothing left under the old key. Afterwards
//!    nodes restart with the new key alone; the old key opens nothing.
//!
//! Every table that holds sealed values is listed in [`SEALED_TABLES`]; a test seals one value
//! of each kind and checks that no stored row still names the old key after a rotation.

use std::fmt;

use gatehouse_store::{StoreError, Table, Txn, write};
use gatehouse_types::SecretKey;

use crate::Gatehouse;
use crate::crypto::sealed_key_id;
use crate::errors::{Failure, Result, internal, sealing_failed};
use crate::migrate::StartupError;
use crate::model::records::{
    ACCESS_KEYS, AccessKeyRecord, META, MFA_DEVICES, MfaDeviceRecord, Record, Records,
    SAML_PROVIDERS, SERVER_CERTIFICATES, SERVICE_CREDENTIALS, SESSIONS, SamlProviderRecord,
    ServerCertificateRecord, ServiceCredentialRecord, SessionRecord,
};

/// `meta/master_key_id`: the id of the key new secrets are sealed under.
pub(crate) const ACTIVE_KEY_ID: &str = "master_key_id";

/// Rows re-sealed per transaction: small enough not to hold the write lock for long.
const RESEAL_BATCH: usize = 200;

/// Passes over the sealed tables before a rotation gives up on a store that keeps getting
/// values under the old key (a node sealing without having read the switch cannot do that
/// for long: its transaction is ordered before the switch and commits within moments).
const MAX_PASSES: usize = 10;

/// A record holding sealed values, each with the associated data it was sealed with.
trait SealedSecrets: Record {
    /// The table its rows live in.
    const TABLE: Table;
    fn sealed(&mut self) -> Vec<(&mut String, String)>;
}

impl SealedSecrets for AccessKeyRecord {
    const TABLE: Table = ACCESS_KEYS;
    fn sealed(&mut self) -> Vec<(&mut String, String)> {
        vec![(&mut self.sealed_secret, self.id.clone())]
    }
}

impl SealedSecrets for SessionRecord {
    const TABLE: Table = SESSIONS;
    fn sealed(&mut self) -> Vec<(&mut String, String)> {
        vec![(&mut self.sealed_secret, self.id.clone())]
    }
}

impl SealedSecrets for MfaDeviceRecord {
    const TABLE: Table = MFA_DEVICES;
    fn sealed(&mut self) -> Vec<(&mut String, String)> {
        vec![(&mut self.sealed_seed, self.id.clone())]
    }
}

impl SealedSecrets for ServiceCredentialRecord {
    const TABLE: Table = SERVICE_CREDENTIALS;
    fn sealed(&mut self) -> Vec<(&mut String, String)> {
        vec![(&mut self.sealed_password, self.id.clone())]
    }
}

impl SealedSecrets for ServerCertificateRecord {
    const TABLE: Table = SERVER_CERTIFICATES;
    fn sealed(&mut self) -> Vec<(&mut String, String)> {
        vec![(&mut self.sealed_private_key, self.id.clone())]
    }
}

impl SealedSecrets for SamlProviderRecord {
    const TABLE: Table = SAML_PROVIDERS;
    fn sealed(&mut self) -> Vec<(&mut String, String)> {
        self.private_keys
            .iter_mut()
            .map(|k| (&mut k.sealed, k.key_id.clone()))
            .collect()
    }
}

/// What rotation and checking do with one table of sealed values.
struct SealedTable {
    /// Re-seals every value not under the given key; returns how many rows changed.
    reseal: fn(&Gatehouse, &str) -> Result<usize>,
    /// The rows holding a value not under the given key.
    stale: StaleRows,
}

type StaleRows = fn(&Gatehouse, &mut dyn Txn, &str) -> std::result::Result<Vec<String>, StoreError>;

const fn sealed_table<R: SealedSecrets>() -> SealedTable {
    SealedTable {
        reseal: Gatehouse::reseal_table::<R>,
        stale: stale_rows::<R>,
    }
}

/// Every table holding sealed values (the check value in `meta` is handled on its own).
const SEALED_TABLES: &[SealedTable] = &[
    sealed_table::<AccessKeyRecord>(),
    sealed_table::<ServiceCredentialRecord>(),
    sealed_table::<ServerCertificateRecord>(),
    sealed_table::<SamlProviderRecord>(),
    sealed_table::<SessionRecord>(),
    sealed_table::<MfaDeviceRecord>(),
];

fn under(sealed: &str, key_id: &str) -> bool {
    sealed_key_id(sealed).is_some_and(|(id, _)| id == key_id)
}

fn stale_rows<R: SealedSecrets>(
    g: &Gatehouse,
    t: &mut dyn Txn,
    key_id: &str,
) -> std::result::Result<Vec<String>, StoreError> {
    // A value from before values named their key counts as under the key that opens it.
    let opens_bare = |sealed: &str, context: &str| {
        sealed_key_id(sealed).is_none()
            && g.master_keys
                .get(key_id)
                .is_some_and(|k| k.open(sealed, context).is_ok())
    };
    Ok(t.scan_records::<R>(R::TABLE, "", None, usize::MAX)?
        .into_iter()
        .filter_map(|(key, mut record)| {
            let stale = record
                .sealed()
                .iter()
                .any(|(v, context)| !under(v, key_id) && !opens_bare(v, context));
            stale.then(|| format!("{}/{key}", R::TABLE))
        })
        .collect())
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    pub from: String,
    pub to: String,
    /// Rows whose sealed values were re-sealed.
    pub resealed: usize,
    pub passes: usize,
}

#[derive(Debug)]
pub enum RotationError {
    /// No next key was given.
    NoNextKey,
    /// Values under the old key kept appearing.
    DidNotSettle,
    Failed(String),
}

impl fmt::Display for RotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotationError::NoNextKey => f.write_str(
                "give the new key as GATEHOUSE_MASTER_KEY_NEXT (and the current one as \
                 GATEHOUSE_MASTER_KEY or DATA_DIR/master.key)",
            ),
            RotationError::DidNotSettle => write!(
                f,
                "secrets under the old key were still being written after {MAX_PASSES} passes: \
                 is a node running that was not restarted with both keys?"
            ),
            RotationError::Failed(why) => f.write_str(why),
        }
    }
}

impl From<Failure> for RotationError {
    fn from(f: Failure) -> Self {
        RotationError::Failed(match f {
            Failure::Store(e) => e.to_string(),
            Failure::Api(e) => e.message,
        })
    }
}

impl From<StoreError> for RotationError {
    fn from(e: StoreError) -> Self {
        RotationError::Failed(e.to_string())
    }
}

impl Gatehouse {
    /// Seals a secret under the store's active key, read in the transaction that will store it.
    pub(crate) fn seal(
        &self,
        t: &mut dyn Txn,
        secret: &SecretKey,
        context: &str,
    ) -> Result<String> {
        let Some(active) = t.get_text(META, ACTIVE_KEY_ID)? else {
            // Never rotated: the original key, in the format every release opens.
            return self
                .master_keys
                .current()
                .seal(secret, context)
                .map_err(|()| sealing_failed());
        };
        if self.master_keys.get(&active).is_none() {
            return Err(internal(&format!(
                "the store's active master key is {active}, which this node was not given \
                 (it has {:?}): restart it with that key",
                self.master_keys.ids()
            )));
        }
        self.master_keys
            .seal(&active, secret, context)
            .map_err(|()| sealing_failed())
    }

    /// Opens a value sealed under any key this node holds.
    pub(crate) fn open_sealed(&self, sealed: &str, context: &str) -> Result<SecretKey> {
        self.master_keys
            .open(sealed, context)
            .map_err(|()| sealing_failed())
    }

    /// The key new secrets are sealed under (the current key, on a store that never named one).
    pub(crate) fn active_key_id(&self, t: &mut dyn Txn) -> std::result::Result<String, StoreError> {
        Ok(t.get_text(META, ACTIVE_KEY_ID)?
            .unwrap_or_else(|| self.master_keys.current().id()))
    }

    /// The ids of the keys this node was given, the current one first.
    pub fn master_key_ids(&self) -> Vec<String> {
        self.master_keys.ids()
    }

    /// Makes the next key active and re-seals every secret under it (phase 2 above). Safe to
    /// run again after an interruption: it goes on where it stopped.
    pub fn rotate_master_key(&self) -> std::result::Result<Rotation, RotationError> {
        let next = self.master_keys.next().ok_or(RotationError::NoNextKey)?;
        let (from, to) = (self.master_keys.current().id(), next.id());
        write(self.store.as_ref(), |t| {
            match self.check_identity(t) {
                Ok(()) => {}
                Err(StartupError::Store(e)) => return Err(Failure::Store(e)),
                Err(e) => return Ok(Err(RotationError::Failed(e.to_string()))),
            }
            // The identity check above leaves the active key one of the two given.
            t.put(META, ACTIVE_KEY_ID, to.as_bytes())?;
            self.reseal_check_value(t, &to)?;
            Ok::<_, Failure>(Ok(()))
        })??;
        let mut resealed = 0;
        for pass in 1..=MAX_PASSES {
            let mut this_pass = 0;
            for table in SEALED_TABLES {
                this_pass += (table.reseal)(self, &to)?;
            }
            resealed += this_pass;
            if this_pass == 0 {
                return Ok(Rotation {
                    from,
                    to,
                    resealed,
                    passes: pass,
                });
            }
        }
        Err(RotationError::DidNotSettle)
    }

    /// The rows holding a secret sealed under another key than the active one (none after a
    /// finished rotation; `gatehouse store check` reports them).
    pub(crate) fn secrets_not_under_active_key(
        &self,
        t: &mut dyn Txn,
    ) -> std::result::Result<Vec<String>, StoreError> {
        let active = self.active_key_id(t)?;
        let mut stale = Vec::new();
        for table in SEALED_TABLES {
            stale.extend((table.stale)(self, t, &active)?);
        }
        Ok(stale)
    }

    fn reseal_table<R: SealedSecrets>(&self, to: &str) -> Result<usize> {
        let table = R::TABLE;
        let mut after: Option<String> = None;
        let mut resealed = 0;
        loop {
            let (changed, last) = write(self.store.as_ref(), |t| {
                let rows = t.scan_records::<R>(table, "", after.as_deref(), RESEAL_BATCH)?;
                let last = (rows.len() == RESEAL_BATCH)
                    .then(|| rows.last().map(|(k, _)| k.clone()))
                    .flatten();
                let mut changed = 0;
                for (key, mut record) in rows {
                    let mut any = false;
                    for (sealed, context) in record.sealed() {
                        if under(sealed, to) {
                            continue;
                        }
                        let secret = self.master_keys.open(sealed, &context).map_err(|()| {
                            internal(&format!("{table}/{key}: no master key given opens it"))
                        })?;
                        *sealed = self
                            .master_keys
                            .seal(to, &secret, &context)
                            .map_err(|()| sealing_failed())?;
                        any = true;
                    }
                    if any {
                        t.put_record(table, &key, &record)?;
                        changed += 1;
                    }
                }
                Ok::<_, Failure>((changed, last))
            })?;
            resealed += changed;
            match last {
                Some(last) => after = Some(last),
                None => return Ok(resealed),
            }
        }
    }
}

/// The key ids named by the sealed values in a stored row's JSON text: every string of the
/// form `16-HEX-DIGITS:HEX` (how a test sees, without knowing the tables, that no row of a
/// whole store still names a retired key).
#[cfg(test)]
pub(crate) fn sealed_values_in(text: &str) -> impl Iterator<Item = &str> {
    text.split('"').filter_map(|s| {
        let (id, rest) = sealed_key_id(s)?;
        let hex = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit());
        (id.len() == 16 && hex(id) && hex(rest)).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gatehouse_protocol::iam::{
        CreateAccessKeyRequest, CreateSAMLProviderRequest, CreateServiceSpecificCredentialRequest,
        CreateUserRequest, CreateVirtualMFADeviceRequest, IamApi, UploadServerCertificateRequest,
    };
    use gatehouse_store::Store;
    use gatehouse_types::AccountId;

    use super::*;
    use crate::test_support::{ROOT_KEY, now, root_request};
    use crate::{MasterKey, MasterKeys, RequestContext};

    const ACCOUNT: &str = "111122223333";
    const SEALED_TABLES_NAMES: [&str; 6] = [
        ACCESS_KEYS,
        SERVICE_CREDENTIALS,
        SERVER_CERTIFICATES,
        SAML_PROVIDERS,
        SESSIONS,
        MFA_DEVICES,
    ];

    fn node(store: &Arc<dyn Store>, keys: MasterKeys) -> Gatehouse {
        Gatehouse::new(
            store.clone(),
            AccountId::parse(ACCOUNT).unwrap(),
            keys,
            Some((ROOT_KEY.to_string(), SecretKey::new("root-secret"))),
        )
    }

    fn copy(key: &MasterKey) -> MasterKey {
        MasterKey::from_hex(&key.to_hex()).unwrap()
    }

    fn root() -> RequestContext {
        root_request(ACCOUNT)
    }

    /// Key ids named by sealed values anywhere in the store, with how often each appears.
    fn key_ids_in(store: &dyn Store) -> std::collections::BTreeMap<String, usize> {
        let mut ids = std::collections::BTreeMap::new();
        for (_, _, value) in gatehouse_store::dump(store).unwrap() {
            for id in sealed_values_in(&String::from_utf8_lossy(&value)) {
                *ids.entry(id.to_string()).or_default() += 1;
            }
        }
        ids
    }

    /// Creates one secret of every kind through `g`; returns the new access key's id.
    fn seal_one_of_each(g: &Gatehouse, suffix: &str) -> String {
        let cx = root();
        let user = format!("alice{suffix}");
        g.create_user(
            &cx,
            CreateUserRequest {
                user_name: user.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        let key = g
            .create_access_key(
                &cx,
                CreateAccessKeyRequest {
                    user_name: Some(user.clone()),
                },
            )
            .unwrap();
        g.create_service_specific_credential(
            &cx,
            CreateServiceSpecificCredentialRequest {
                user_name: user,
                service_name: "codecommit.amazonaws.com".into(),
                credential_age_days: None,
            },
        )
        .unwrap();
        g.upload_server_certificate(
            &cx,
            UploadServerCertificateRequest {
                server_certificate_name: format!("web{suffix}"),
                certificate_body: include_str!("keymaterial/testdata/p256.crt").into(),
                private_key: include_str!("keymaterial/testdata/p256.key").into(),
                ..Default::default()
            },
        )
        .unwrap();
        let cert: String = include_str!("keymaterial/testdata/rsa2048.crt")
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        g.create_saml_provider(
            &cx,
            CreateSAMLProviderRequest {
                name: format!("idp{suffix}"),
                saml_metadata_document: format!(
                    r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.com/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
                ),
                add_private_key: Some(include_str!("keymaterial/testdata/rsa2048.key").into()),
                ..Default::default()
            },
        )
        .unwrap();
        gatehouse_protocol::sts::StsApi::get_session_token(
            g,
            &cx,
            gatehouse_protocol::sts::GetSessionTokenRequest::default(),
        )
        .unwrap();
        g.create_virtual_mfa_device(
            &cx,
            CreateVirtualMFADeviceRequest {
                virtual_mfa_device_name: format!("phone{suffix}"),
                ..Default::default()
            },
        )
        .unwrap();
        key.access_key.access_key_id
    }

    #[test]
    fn a_rotation_reseals_every_secret_and_retires_the_old_key() {
        let store = crate::test_support::temp_store();
        let (old, new) = (
            MasterKey::generate().unwrap(),
            MasterKey::generate().unwrap(),
        );
        let first = node(&store, copy(&old).into());
        first.prepare_store().unwrap();
        first.init_account(now()).unwrap();
        let key_a = seal_one_of_each(&first, "a");
        // The check value, the root key and one secret of each of six kinds, all sealed in
        // the previous release's format (no key id) while the store was never rotated.
        let sealed_rows = |store: &Arc<dyn Store>| {
            gatehouse_store::dump(store.as_ref())
                .unwrap()
                .into_iter()
                .filter(|(table, key, _)| {
                    SEALED_TABLES_NAMES.contains(&table.as_str()) || key == "master_key_check"
                })
                .count()
        };
        assert_eq!(sealed_rows(&store), 8);
        assert!(key_ids_in(store.as_ref()).is_empty());

        // Phase 1: a node given both keys serves and still seals under the active (old) key,
        // so nodes not yet restarted can open what it writes.
        let both = node(&store, MasterKeys::new(copy(&old), Some(copy(&new))));
        both.prepare_store().unwrap();
        let key_b = seal_one_of_each(&both, "b");
        assert_eq!(sealed_rows(&store), 14);
        assert!(key_ids_in(store.as_ref()).is_empty());

        // Phase 2.
        let rotation = both.rotate_master_key().unwrap();
        assert_eq!(
            (rotation.from.as_str(), rotation.to.as_str()),
            (old.id().as_str(), new.id().as_str())
        );
        assert_eq!(rotation.resealed, 13, "every row but the check value");
        assert_eq!(
            rotation.passes, 2,
            "one that re-seals, one that finds nothing left"
        );
        assert_eq!(key_ids_in(store.as_ref()), [(new.id(), 14)].into());
        assert!(both.check_consistency().unwrap().is_empty());
        // Running it again (say after an interruption) has nothing left to do.
        assert_eq!(both.rotate_master_key().unwrap().resealed, 0);

        // The old key alone is refused at start-up, and a node still running with it alone
        // refuses to seal rather than write what the new key cannot open.
        let old_only = node(&store, copy(&old).into());
        assert!(matches!(
            old_only.prepare_store(),
            Err(StartupError::MasterKeyNotGiven { .. })
        ));
        assert!(
            first
                .create_access_key(
                    &root(),
                    CreateAccessKeyRequest {
                        user_name: Some("alicea".into())
                    }
                )
                .is_err()
        );
        assert_eq!(key_ids_in(store.as_ref()), [(new.id(), 14)].into());

        // The new key alone serves: every key authenticates with its secret.
        let new_only = node(&store, copy(&new).into());
        new_only.prepare_store().unwrap();
        for id in [ROOT_KEY, &key_a, &key_b] {
            assert!(
                new_only.find_access_key(id, now()).unwrap().is_some(),
                "{id}"
            );
        }
        assert!(new_only.check_consistency().unwrap().is_empty());
        assert!(matches!(
            new_only.rotate_master_key(),
            Err(RotationError::NoNextKey)
        ));
    }

    #[test]
    fn keys_that_are_not_the_stores_cannot_rotate_it() {
        let store = crate::test_support::temp_store();
        let first = node(&store, MasterKey::generate().unwrap().into());
        first.prepare_store().unwrap();
        let strangers = node(
            &store,
            MasterKeys::new(
                MasterKey::generate().unwrap(),
                Some(MasterKey::generate().unwrap()),
            ),
        );
        let refused = strangers.rotate_master_key().unwrap_err().to_string();
        assert!(refused.contains("does not open this store"), "{refused}");
        assert!(first.check_consistency().unwrap().is_empty());
    }

    #[test]
    fn sealed_values_are_found_in_a_record_text() {
        let text = r#"{"id":"AKIA","sealed_secret":"0123456789abcdef:00ff","n":"a:b"}"#;
        assert_eq!(
            sealed_values_in(text).collect::<Vec<_>>(),
            ["0123456789abcdef"]
        );
    }
}
