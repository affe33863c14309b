//! The participant Admin API, as the rotation needs it: a small trait ([`ParticipantAdmin`]) and
//! its tonic implementation ([`AdminClient`]), plaintext by default, TLS when configured.
//!
//! Every call has a connect and a request timeout, so an unreachable participant is an error the
//! rotation can report, never a hang.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::fingerprint::{FingerprintError, key_fingerprint};
use super::proto::crypto::{self, PublicKey, public_key};
use super::proto::participant::{
    self, synchronizer_connectivity_service_client::SynchronizerConnectivityServiceClient,
};
use super::proto::protocol::{self, enums::TopologyChangeOp};
use super::proto::topology::{
    self, identity_initialization_service_client::IdentityInitializationServiceClient,
    topology_manager_read_service_client::TopologyManagerReadServiceClient,
    topology_manager_write_service_client::TopologyManagerWriteServiceClient,
};
use super::proto::vault::{self, vault_service_client::VaultServiceClient};

/// The Admin API port of a Splice participant.
pub(crate) const ADMIN_API_PORT: u16 = 5002;
/// Three-letter code of a participant in topology member ids.
pub(crate) const PARTICIPANT_CODE: &str = "PAR";

/// Why an Admin API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error(
        "cannot reach the participant's Admin API at {address}: {detail}. Check that the participant pod is running and that the operator may reach port 5002 (the NetworkPolicy admits the operator's namespace)"
    )]
    Unreachable { address: String, detail: String },
    #[error("the participant refused {method}: {code}: {message}")]
    Rpc {
        method: &'static str,
        code: String,
        message: String,
        /// Unavailable or deadline exceeded: the participant did not answer.
        unavailable: bool,
    },
    #[error("the participant's answer to {method} is unusable: {detail}")]
    Decode {
        method: &'static str,
        detail: String,
    },
    #[error("the participant has no identity yet: wait until it has been initialized")]
    NotInitialized,
    #[error("the Admin API settings are invalid: {0}")]
    Config(String),
}

impl AdminError {
    /// Whether the failure means the participant could not be reached (as opposed to refusing).
    pub(crate) fn is_unreachable(&self) -> bool {
        match self {
            AdminError::Unreachable { .. } => true,
            AdminError::Rpc { unavailable, .. } => *unavailable,
            _ => false,
        }
    }

    /// A CamelCase reason for status and Events.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            e if e.is_unreachable() => "ParticipantUnreachable",
            AdminError::NotInitialized => "ParticipantNotInitialized",
            AdminError::Config(_) => "AdminApiConfigInvalid",
            AdminError::Decode { .. } => "AdminApiAnswerInvalid",
            _ => "AdminApiCallFailed",
        }
    }

    fn rpc(method: &'static str, status: tonic::Status) -> Self {
        let unavailable = matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
        );
        AdminError::Rpc {
            method,
            code: format!("{:?}", status.code()),
            message: status.message().to_string(),
            unavailable,
        }
    }
}

/// Signing or encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Signing,
    Encryption,
}

impl Purpose {
    /// As shown in status and by `canton-operator keys`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Signing => "signing",
            Purpose::Encryption => "encryption",
        }
    }
}

/// A key the participant holds the private part of (`ListMyKeys`).
#[derive(Debug, Clone, PartialEq)]
pub struct VaultKey {
    pub fingerprint: String,
    /// Empty names are `None`.
    pub name: Option<String>,
    pub purpose: Purpose,
    /// `SigningKeyUsage` values (signing keys only).
    pub usage: Vec<i32>,
    /// `SigningKeySpec` or `EncryptionKeySpec` value.
    pub spec: i32,
    pub kms_key_id: Option<String>,
    /// The key as the participant sent it, to be put in an OwnerToKeyMapping unchanged.
    pub public_key: PublicKey,
}

impl VaultKey {
    /// Whether this key may only sign namespace delegations (the namespace root key).
    pub(crate) fn is_namespace_key(&self) -> bool {
        let namespace = crypto::SigningKeyUsage::Namespace as i32;
        self.purpose == Purpose::Signing && self.usage.contains(&namespace)
    }

    /// Usages by name, for display.
    pub(crate) fn usage_names(&self) -> Vec<String> {
        self.usage
            .iter()
            .map(|u| match crypto::SigningKeyUsage::try_from(*u) {
                Ok(known) => known
                    .as_str_name()
                    .trim_start_matches("SIGNING_KEY_USAGE_")
                    .to_lowercase(),
                Err(_) => u.to_string(),
            })
            .collect()
    }
}

/// Which topology store an OwnerToKeyMapping was read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    /// The node's own authorized store, where the operator proposes changes.
    Authorized,
    /// A synchronizer's store: what that synchronizer's members see.
    Synchronizer(String),
    /// A temporary store (not a synchronizer; ignored by the rotation).
    Temporary(String),
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Authorized => f.write_str("authorized"),
            Store::Synchronizer(id) => write!(f, "synchronizer {id}"),
            Store::Temporary(name) => write!(f, "temporary {name}"),
        }
    }
}

/// The head state of the participant's OwnerToKeyMapping in one store.
#[derive(Debug, Clone, PartialEq)]
pub struct Okm {
    pub store: Store,
    pub serial: u32,
    /// The last change was a removal: no mapping.
    pub removed: bool,
    /// Member id, such as `PAR::name::1220…`.
    pub member: String,
    pub keys: Vec<PublicKey>,
    /// Fingerprints of `keys`, in order.
    pub fingerprints: Vec<String>,
}

impl Okm {
    /// Whether the mapping holds this key.
    pub(crate) fn contains(&self, fingerprint: &str) -> bool {
        !self.removed && self.fingerprints.iter().any(|f| f == fingerprint)
    }
}

/// A key to create: generated by the participant, or a KMS key created in advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub purpose: Purpose,
    pub name: String,
    pub spec: i32,
    pub usage: Vec<i32>,
    pub kms_key_id: Option<String>,
}

/// An OwnerToKeyMapping to propose to the authorized store (change add/replace).
#[derive(Debug, Clone, PartialEq)]
pub struct OkmChange {
    pub serial: u32,
    pub member: String,
    pub keys: Vec<PublicKey>,
}

/// What the rotation needs of a participant. Implemented by [`AdminClient`]; tests may implement
/// it too. There is deliberately no way to delete a key.
pub trait ParticipantAdmin {
    /// The participant's unique identifier (`GetId`).
    fn unique_identifier(&mut self) -> impl Future<Output = Result<String, AdminError>> + Send;
    /// Every key with a private key in the vault (`ListMyKeys`).
    fn list_keys(&mut self) -> impl Future<Output = Result<Vec<VaultKey>, AdminError>> + Send;
    /// The participant's OwnerToKeyMapping in every store (`ListOwnerToKeyMapping`).
    fn list_okms(&mut self, uid: &str)
    -> impl Future<Output = Result<Vec<Okm>, AdminError>> + Send;
    /// Ids, logical and physical, of the synchronizers the participant is connected to now
    /// (`ListConnectedSynchronizers`).
    fn connected_synchronizers(
        &mut self,
    ) -> impl Future<Output = Result<Vec<String>, AdminError>> + Send;
    /// Generates or registers a key (`Generate*Key` / `RegisterKms*Key`).
    fn create_key(
        &mut self,
        key: &NewKey,
    ) -> impl Future<Output = Result<PublicKey, AdminError>> + Send;
    /// Proposes an OwnerToKeyMapping, signed by the node itself (`Authorize`).
    fn propose_okm(
        &mut self,
        change: &OkmChange,
    ) -> impl Future<Output = Result<(), AdminError>> + Send;
}

/// Where the Admin API is and how to secure the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTarget {
    /// `http://host:port`, or `https://host:port` with `tls`.
    pub uri: String,
    pub tls: Option<TlsTarget>,
}

/// TLS to the Admin API: the CA to trust, inline or from a file, and the expected server name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsTarget {
    pub ca_pem: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub server_name: Option<String>,
}

impl AdminTarget {
    /// Plaintext to `host:port`.
    pub fn plaintext(host_port: &str) -> Self {
        Self {
            uri: format!("http://{host_port}"),
            tls: None,
        }
    }
}

/// Connect and per-request timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
        }
    }
}

/// The tonic client of the five Admin API services the rotation uses.
#[derive(Debug, Clone)]
pub struct AdminClient {
    vault: VaultServiceClient<Channel>,
    connectivity: SynchronizerConnectivityServiceClient<Channel>,
    read: TopologyManagerReadServiceClient<Channel>,
    write: TopologyManagerWriteServiceClient<Channel>,
    identity: IdentityInitializationServiceClient<Channel>,
}

impl AdminClient {
    /// Connects (within the connect timeout) to the Admin API.
    pub async fn connect(target: &AdminTarget, timeouts: Timeouts) -> Result<Self, AdminError> {
        let endpoint = endpoint(target, timeouts)?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| AdminError::Unreachable {
                address: target.uri.clone(),
                detail: error_chain(&e),
            })?;
        Ok(Self::from_channel(channel))
    }

    /// A client over an existing channel.
    pub(crate) fn from_channel(channel: Channel) -> Self {
        Self {
            vault: VaultServiceClient::new(channel.clone()),
            connectivity: SynchronizerConnectivityServiceClient::new(channel.clone()),
            read: TopologyManagerReadServiceClient::new(channel.clone()),
            write: TopologyManagerWriteServiceClient::new(channel.clone()),
            identity: IdentityInitializationServiceClient::new(channel),
        }
    }
}

fn endpoint(target: &AdminTarget, timeouts: Timeouts) -> Result<Endpoint, AdminError> {
    let endpoint = Endpoint::from_shared(target.uri.clone())
        .map_err(|e| AdminError::Config(format!("`{}` is not a URI: {e}", target.uri)))?
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request);
    let Some(tls) = &target.tls else {
        return Ok(endpoint);
    };
    endpoint
        .tls_config(tls_config(tls)?)
        .map_err(|e| AdminError::Config(format!("TLS settings: {}", error_chain(&e))))
}

fn tls_config(tls: &TlsTarget) -> Result<ClientTlsConfig, AdminError> {
    let pem = match (&tls.ca_pem, &tls.ca_file) {
        (Some(pem), _) => pem.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            AdminError::Config(format!("cannot read the CA file {}: {e}", path.display()))
        })?,
        (None, None) => {
            return Err(AdminError::Config(
                "TLS to the Admin API needs a CA: set adminApiTls.caPem or adminApiTls.caFile"
                    .to_string(),
            ));
        }
    };
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    Ok(config)
}

/// An error and its sources, on one line (transport errors hide the useful part in a source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl ParticipantAdmin for AdminClient {
    async fn unique_identifier(&mut self) -> Result<String, AdminError> {
        let id = self
            .identity
            .get_id(topology::GetIdRequest {})
            .await
            .map_err(|s| AdminError::rpc("GetId", s))?
            .into_inner();
        if !id.initialized || id.unique_identifier.is_empty() {
            return Err(AdminError::NotInitialized);
        }
        Ok(id.unique_identifier)
    }

    async fn list_keys(&mut self) -> Result<Vec<VaultKey>, AdminError> {
        let response = self
            .vault
            .list_my_keys(vault::ListMyKeysRequest {
                filters: Some(vault::ListKeysFilters::default()),
            })
            .await
            .map_err(|s| AdminError::rpc("ListMyKeys", s))?
            .into_inner();
        response
            .private_keys_metadata
            .into_iter()
            .map(vault_key)
            .collect()
    }

    async fn list_okms(&mut self, uid: &str) -> Result<Vec<Okm>, AdminError> {
        let response = self
            .read
            .list_owner_to_key_mapping(okm_query(uid))
            .await
            .map_err(|s| AdminError::rpc("ListOwnerToKeyMapping", s))?
            .into_inner();
        let mut okms = Vec::new();
        for result in response.results {
            okms.push(okm(result)?);
        }
        Ok(head_per_store(okms))
    }

    async fn connected_synchronizers(&mut self) -> Result<Vec<String>, AdminError> {
        let response = self
            .connectivity
            .list_connected_synchronizers(participant::ListConnectedSynchronizersRequest {})
            .await
            .map_err(|s| AdminError::rpc("ListConnectedSynchronizers", s))?
            .into_inner();
        Ok(connected_ids(response))
    }

    async fn create_key(&mut self, key: &NewKey) -> Result<PublicKey, AdminError> {
        let signing = |k: Option<crypto::SigningPublicKey>, method| {
            k.map(|k| PublicKey {
                key: Some(public_key::Key::SigningPublicKey(k)),
            })
            .ok_or(AdminError::Decode {
                method,
                detail: "no public key in the answer".into(),
            })
        };
        let encryption = |k: Option<crypto::EncryptionPublicKey>, method| {
            k.map(|k| PublicKey {
                key: Some(public_key::Key::EncryptionPublicKey(k)),
            })
            .ok_or(AdminError::Decode {
                method,
                detail: "no public key in the answer".into(),
            })
        };
        match (key.purpose, &key.kms_key_id) {
            (Purpose::Signing, None) => {
                let method = "GenerateSigningKey";
                let request = vault::GenerateSigningKeyRequest {
                    key_spec: key.spec,
                    name: key.name.clone(),
                    usage: key.usage.clone(),
                };
                let r = self.vault.generate_signing_key(request).await;
                signing(
                    r.map_err(|s| AdminError::rpc(method, s))?
                        .into_inner()
                        .public_key,
                    method,
                )
            }
            (Purpose::Encryption, None) => {
                let method = "GenerateEncryptionKey";
                let request = vault::GenerateEncryptionKeyRequest {
                    key_spec: key.spec,
                    name: key.name.clone(),
                };
                let r = self.vault.generate_encryption_key(request).await;
                encryption(
                    r.map_err(|s| AdminError::rpc(method, s))?
                        .into_inner()
                        .public_key,
                    method,
                )
            }
            (Purpose::Signing, Some(id)) => {
                let method = "RegisterKmsSigningKey";
                let request = vault::RegisterKmsSigningKeyRequest {
                    kms_key_id: id.clone(),
                    name: key.name.clone(),
                    usage: key.usage.clone(),
                };
                let r = self.vault.register_kms_signing_key(request).await;
                signing(
                    r.map_err(|s| AdminError::rpc(method, s))?
                        .into_inner()
                        .public_key,
                    method,
                )
            }
            (Purpose::Encryption, Some(id)) => {
                let method = "RegisterKmsEncryptionKey";
                let request = vault::RegisterKmsEncryptionKeyRequest {
                    kms_key_id: id.clone(),
                    name: key.name.clone(),
                };
                let r = self.vault.register_kms_encryption_key(request).await;
                encryption(
                    r.map_err(|s| AdminError::rpc(method, s))?
                        .into_inner()
                        .public_key,
                    method,
                )
            }
        }
    }

    async fn propose_okm(&mut self, change: &OkmChange) -> Result<(), AdminError> {
        self.write
            .authorize(authorize_request(change))
            .await
            .map_err(|s| AdminError::rpc("Authorize", s))?;
        Ok(())
    }
}

/// Both ids of every connected synchronizer: a synchronizer store is named by one or the other
/// (Canton 3.4 names stores by physical id, so the store left behind by a logical synchronizer
/// upgrade matches neither).
pub(crate) fn connected_ids(
    response: participant::ListConnectedSynchronizersResponse,
) -> Vec<String> {
    response
        .connected_synchronizers
        .into_iter()
        .flat_map(|r| [r.synchronizer_id, r.physical_synchronizer_id])
        .filter(|id| !id.is_empty())
        .collect()
}

/// The query Canton's console makes: head state of every store, this participant only.
pub(crate) fn okm_query(uid: &str) -> topology::ListOwnerToKeyMappingRequest {
    topology::ListOwnerToKeyMappingRequest {
        base_query: Some(topology::BaseQuery {
            store: None,
            proposals: false,
            operation: TopologyChangeOp::Unspecified as i32,
            time_query: Some(topology::base_query::TimeQuery::HeadState(())),
            filter_signed_key: String::new(),
            protocol_version: None,
        }),
        filter_key_owner_type: PARTICIPANT_CODE.to_string(),
        filter_key_owner_uid: uid.to_string(),
    }
}

/// `Authorize` for an OwnerToKeyMapping in the authorized store, signed by the node itself,
/// refused by the participant unless it can fully authorize it.
pub(crate) fn authorize_request(change: &OkmChange) -> topology::AuthorizeRequest {
    let mapping = protocol::TopologyMapping {
        mapping: Some(protocol::topology_mapping::Mapping::OwnerToKeyMapping(
            protocol::OwnerToKeyMapping {
                member: change.member.clone(),
                public_keys: change.keys.clone(),
            },
        )),
    };
    topology::AuthorizeRequest {
        r#type: Some(topology::authorize_request::Type::Proposal(
            topology::authorize_request::Proposal {
                change: TopologyChangeOp::AddReplace as i32,
                serial: change.serial,
                mapping: Some(mapping),
            },
        )),
        must_fully_authorize: true,
        signed_by: Vec::new(),
        store: Some(topology::StoreId {
            store: Some(topology::store_id::Store::Authorized(
                topology::store_id::Authorized {},
            )),
        }),
        wait_to_become_effective: None,
    }
}

fn decode(method: &'static str, e: FingerprintError) -> AdminError {
    AdminError::Decode {
        method,
        detail: e.to_string(),
    }
}

/// A `PrivateKeyMetadata` as a [`VaultKey`].
pub(crate) fn vault_key(meta: vault::PrivateKeyMetadata) -> Result<VaultKey, AdminError> {
    let method = "ListMyKeys";
    let with_name = meta.public_key_with_name.ok_or(AdminError::Decode {
        method,
        detail: "a key without public key".into(),
    })?;
    let public_key = with_name.public_key.ok_or(AdminError::Decode {
        method,
        detail: "a key without public key".into(),
    })?;
    let fingerprint = key_fingerprint(&public_key).map_err(|e| decode(method, e))?;
    let (purpose, usage, spec) = match &public_key.key {
        Some(public_key::Key::SigningPublicKey(k)) => {
            (Purpose::Signing, k.usage.clone(), k.key_spec)
        }
        Some(public_key::Key::EncryptionPublicKey(k)) => {
            (Purpose::Encryption, Vec::new(), k.key_spec)
        }
        None => return Err(decode(method, FingerprintError::Empty)),
    };
    Ok(VaultKey {
        fingerprint,
        name: Some(with_name.name).filter(|n| !n.is_empty()),
        purpose,
        usage,
        spec,
        kms_key_id: meta.kms_key_id.filter(|k| !k.is_empty()),
        public_key,
    })
}

fn okm(result: topology::list_owner_to_key_mapping_response::Result) -> Result<Okm, AdminError> {
    let method = "ListOwnerToKeyMapping";
    let context = result.context.unwrap_or_default();
    let item = result.item.unwrap_or_default();
    let store = match context.store.and_then(|s| s.store) {
        Some(topology::store_id::Store::Authorized(_)) => Store::Authorized,
        Some(topology::store_id::Store::Synchronizer(s)) => Store::Synchronizer(match s.kind {
            Some(topology::synchronizer::Kind::Id(id)) => id,
            Some(topology::synchronizer::Kind::PhysicalId(id)) => id,
            None => String::new(),
        }),
        Some(topology::store_id::Store::Temporary(t)) => Store::Temporary(t.name),
        None => {
            return Err(AdminError::Decode {
                method,
                detail: "a result without store".into(),
            });
        }
    };
    let fingerprints = item
        .public_keys
        .iter()
        .map(key_fingerprint)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| decode(method, e))?;
    Ok(Okm {
        store,
        serial: u32::try_from(context.serial).unwrap_or(0),
        removed: context.operation == TopologyChangeOp::Remove as i32,
        member: item.member,
        keys: item.public_keys,
        fingerprints,
    })
}

/// Keeps the highest serial per store (a head-state query returns one each; be safe anyway).
fn head_per_store(okms: Vec<Okm>) -> Vec<Okm> {
    let mut out: Vec<Okm> = Vec::new();
    for o in okms {
        match out.iter_mut().find(|x| x.store == o.store) {
            Some(existing) if existing.serial < o.serial => *existing = o,
            Some(_) => {}
            None => out.push(o),
        }
    }
    out.sort_by(|a, b| a.store.cmp(&b.store));
    out
}

/// Where a validator's participant Admin API is, inside the cluster.
pub(crate) fn in_cluster_address(validator: &str, namespace: &str) -> String {
    format!(
        "{}.{namespace}.svc:{ADMIN_API_PORT}",
        crate::render::participant_name(validator)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_head_state_of_all_stores_for_this_participant() {
        let q = okm_query("p::1220ab");
        let base = q.base_query.unwrap_or_default();
        assert_eq!(base.store, None);
        assert!(!base.proposals);
        assert_eq!(
            base.time_query,
            Some(topology::base_query::TimeQuery::HeadState(()))
        );
        assert_eq!(q.filter_key_owner_type, "PAR");
        assert_eq!(q.filter_key_owner_uid, "p::1220ab");
    }

    #[test]
    fn authorize_is_an_add_replace_in_the_authorized_store_fully_authorized() {
        let r = authorize_request(&OkmChange {
            serial: 3,
            member: "PAR::p::1220ab".into(),
            keys: vec![],
        });
        assert!(r.must_fully_authorize);
        assert!(r.signed_by.is_empty());
        assert!(matches!(
            r.store.and_then(|s| s.store),
            Some(topology::store_id::Store::Authorized(_))
        ));
        let Some(topology::authorize_request::Type::Proposal(p)) = r.r#type else {
            panic!("not a proposal");
        };
        assert_eq!(p.serial, 3);
        assert_eq!(p.change, TopologyChangeOp::AddReplace as i32);
    }

    #[test]
    fn keeps_the_highest_serial_per_store() {
        let okm = |store: Store, serial| Okm {
            store,
            serial,
            removed: false,
            member: String::new(),
            keys: vec![],
            fingerprints: vec![],
        };
        let heads = head_per_store(vec![
            okm(Store::Synchronizer("a".into()), 1),
            okm(Store::Authorized, 2),
            okm(Store::Synchronizer("a".into()), 3),
        ]);
        assert_eq!(heads.len(), 2);
        assert_eq!(heads[0].store, Store::Authorized);
        assert_eq!(heads[1].serial, 3);
    }

    #[test]
    fn tls_needs_a_ca() {
        let target = AdminTarget {
            uri: "https://p:5002".into(),
            tls: Some(TlsTarget::default()),
        };
        assert!(matches!(
            endpoint(&target, Timeouts::default()),
            Err(AdminError::Config(_))
        ));
    }

    #[test]
    fn unreachable_classification() {
        let e = AdminError::rpc("GetId", tonic::Status::unavailable("down"));
        assert!(e.is_unreachable());
        assert_eq!(e.reason(), "ParticipantUnreachable");
        let e = AdminError::rpc("GetId", tonic::Status::permission_denied("no"));
        assert!(!e.is_unreachable());
        assert_eq!(e.reason(), "AdminApiCallFailed");
    }
}
