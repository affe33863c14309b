//! An in-process fake of a participant's Admin API (tonic, on 127.0.0.1): a vault of keys, the
//! OwnerToKeyMapping with serials in the authorized store and in several synchronizer stores
//! that take the change only after a delay (unless disconnected or stuck), the connected
//! synchronizers, failures on demand, and a record of every call
//! (by gRPC path, so even calls to RPCs canton-operator does not declare, such as DeleteKeyPair,
//! are counted).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use canton_operator::rotation::fingerprint::key_fingerprint;
use canton_operator::rotation::proto::crypto::{
    CryptoKeyFormat, EncryptionKeySpec, EncryptionPublicKey, PublicKey, PublicKeyWithName,
    SigningKeySpec, SigningKeyUsage, SigningPublicKey, public_key,
};
use canton_operator::rotation::proto::participant::{
    ListConnectedSynchronizersRequest, ListConnectedSynchronizersResponse,
    list_connected_synchronizers_response,
    synchronizer_connectivity_service_server::{
        SynchronizerConnectivityService, SynchronizerConnectivityServiceServer,
    },
};
use canton_operator::rotation::proto::protocol::{
    OwnerToKeyMapping, enums::TopologyChangeOp, topology_mapping,
};
use canton_operator::rotation::proto::topology::{
    self, BaseResult, StoreId,
    identity_initialization_service_server::{
        IdentityInitializationService, IdentityInitializationServiceServer,
    },
    list_owner_to_key_mapping_response, store_id, synchronizer,
    topology_manager_read_service_server::{
        TopologyManagerReadService, TopologyManagerReadServiceServer,
    },
    topology_manager_write_service_server::{
        TopologyManagerWriteService, TopologyManagerWriteServiceServer,
    },
};
use canton_operator::rotation::proto::vault::{
    self, PrivateKeyMetadata,
    vault_service_server::{VaultService, VaultServiceServer},
};
use tonic::{Request, Response, Status};

pub const UID: &str = "validator1::1220aaaa";
pub const MEMBER: &str = "PAR::validator1::1220aaaa";
pub const DELETE_KEY_PAIR: &str =
    "/com.digitalasset.canton.crypto.admin.v30.VaultService/DeleteKeyPair";

/// Ed25519 SubjectPublicKeyInfo header (RFC 8410).
const ED25519_SPKI: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(Clone, Debug)]
struct StoredKey {
    name: String,
    key: PublicKey,
    kms_key_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OkmState {
    pub serial: u32,
    pub keys: Vec<PublicKey>,
}

impl OkmState {
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| key_fingerprint(k).unwrap_or_default())
            .collect()
    }
}

#[derive(Debug)]
struct SyncStore {
    /// Logical synchronizer id.
    logical: String,
    /// Physical synchronizer id: the store's name, as Canton 3.4 lists it.
    id: String,
    okm: OkmState,
    pending: Vec<(Instant, OkmState)>,
    /// Listed by ListConnectedSynchronizers.
    connected: bool,
    /// Takes no more changes (disconnected, or stuck).
    frozen: bool,
}

impl SyncStore {
    fn new(logical: String, serial: u32, okm: OkmState) -> Self {
        Self {
            id: format!("{logical}::34-{serial}"),
            logical,
            okm,
            pending: vec![],
            connected: true,
            frozen: false,
        }
    }
}

/// How an injected fault behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Refuse before doing anything (Unavailable).
    Before,
    /// Do the work, then answer with an error (the client cannot know it happened).
    After,
}

struct State {
    keys: Vec<StoredKey>,
    auth: OkmState,
    syncs: Vec<SyncStore>,
    delay: Duration,
    faults: HashMap<String, (u32, FaultKind)>,
    calls: Vec<String>,
    kms: BTreeMap<String, PublicKey>,
    counter: u8,
}

/// The fake participant. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct FakeParticipant {
    state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn signing_key(seed: u8, usage: &[SigningKeyUsage]) -> PublicKey {
    let mut bytes = ED25519_SPKI.to_vec();
    bytes.extend(std::iter::repeat_n(seed, 32));
    PublicKey {
        key: Some(public_key::Key::SigningPublicKey(SigningPublicKey {
            format: CryptoKeyFormat::DerX509SubjectPublicKeyInfo as i32,
            public_key: bytes,
            usage: usage.iter().map(|u| *u as i32).collect(),
            key_spec: SigningKeySpec::EcCurve25519 as i32,
            ..Default::default()
        })),
    }
}

pub fn encryption_key(seed: u8) -> PublicKey {
    PublicKey {
        key: Some(public_key::Key::EncryptionPublicKey(EncryptionPublicKey {
            format: CryptoKeyFormat::DerX509SubjectPublicKeyInfo as i32,
            public_key: vec![0x30, 0x59, seed, seed.wrapping_mul(7), 0x42],
            key_spec: EncryptionKeySpec::EcP256 as i32,
            ..Default::default()
        })),
    }
}

pub const NODE_SIGNING_USAGE: [SigningKeyUsage; 3] = [
    SigningKeyUsage::Protocol,
    SigningKeyUsage::SequencerAuthentication,
    SigningKeyUsage::ProofOfOwnership,
];

pub fn fp(key: &PublicKey) -> String {
    key_fingerprint(key).unwrap_or_default()
}

impl FakeParticipant {
    /// A participant with a namespace key, a signing and an encryption node key (OKM serial 1),
    /// connected to `synchronizers` synchronizers whose stores lag by `delay`.
    pub fn new(synchronizers: usize, delay: Duration) -> Self {
        let namespace = signing_key(1, &[SigningKeyUsage::Namespace]);
        let signing = signing_key(2, &NODE_SIGNING_USAGE);
        let encryption = encryption_key(3);
        let okm = OkmState {
            serial: 1,
            keys: vec![signing.clone(), encryption.clone()],
        };
        let syncs = (0..synchronizers)
            .map(|i| SyncStore::new(format!("sync{i}::1220bbbb"), 0, okm.clone()))
            .collect();
        let stored = |name: &str, key: PublicKey| StoredKey {
            name: name.into(),
            key,
            kms_key_id: None,
        };
        let state = State {
            keys: vec![
                stored("participant-namespace", namespace),
                stored("participant-signing", signing),
                stored("participant-encryption", encryption),
            ],
            auth: okm,
            syncs,
            delay,
            faults: HashMap::new(),
            calls: Vec::new(),
            kms: BTreeMap::new(),
            counter: 10,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Starts serving on 127.0.0.1:<free port>.
    pub async fn serve(&self) -> SocketAddr {
        let incoming =
            tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("address"))
                .expect("bind 127.0.0.1:0");
        let addr = incoming.local_addr().expect("local address");
        let calls = self.clone();
        let server = tonic::transport::Server::builder()
            .layer(tower::layer::layer_fn(move |inner| RecordPath {
                inner,
                fake: calls.clone(),
            }))
            .add_service(VaultServiceServer::new(self.clone()))
            .add_service(TopologyManagerReadServiceServer::new(self.clone()))
            .add_service(TopologyManagerWriteServiceServer::new(self.clone()))
            .add_service(IdentityInitializationServiceServer::new(self.clone()))
            .add_service(SynchronizerConnectivityServiceServer::new(self.clone()));
        tokio::spawn(server.serve_with_incoming(incoming));
        addr
    }

    /// Pre-creates a KMS key the participant can register.
    pub fn create_kms_key(&self, id: &str, key: PublicKey) {
        lock(&self.state).kms.insert(id.to_string(), key);
    }

    /// The next `times` calls of `method` (such as "Authorize") fail.
    pub fn fail(&self, method: &str, times: u32, kind: FaultKind) {
        lock(&self.state)
            .faults
            .insert(method.to_string(), (times, kind));
    }

    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Every call so far, as gRPC paths.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// Calls of one method (last path segment).
    pub fn count(&self, method: &str) -> usize {
        self.calls()
            .iter()
            .filter(|p| p.rsplit('/').next() == Some(method))
            .count()
    }

    pub fn authorized(&self) -> OkmState {
        lock(&self.state).auth.clone()
    }

    /// Synchronizer stores as they are visible now.
    pub fn synchronizers(&self) -> Vec<OkmState> {
        let mut s = lock(&self.state);
        promote(&mut s);
        s.syncs.iter().map(|x| x.okm.clone()).collect()
    }

    /// The stores of the connected synchronizers as they are visible now.
    pub fn connected_synchronizers(&self) -> Vec<OkmState> {
        let mut s = lock(&self.state);
        promote(&mut s);
        s.syncs
            .iter()
            .filter(|x| x.connected)
            .map(|x| x.okm.clone())
            .collect()
    }

    /// The name of synchronizer store `i`, as the rotation reports it.
    pub fn store_name(&self, i: usize) -> String {
        format!("synchronizer {}", lock(&self.state).syncs[i].id)
    }

    /// The participant leaves synchronizer `i`: its store stays listed and takes no more changes.
    pub fn disconnect(&self, i: usize) {
        let mut s = lock(&self.state);
        promote(&mut s);
        s.syncs[i].connected = false;
        s.syncs[i].frozen = true;
    }

    /// Synchronizer `i` stays connected but its store takes no more changes.
    pub fn stall(&self, i: usize) {
        let mut s = lock(&self.state);
        promote(&mut s);
        s.syncs[i].frozen = true;
    }

    /// Synchronizer `i` takes changes again (those it missed at once).
    pub fn resume(&self, i: usize) {
        let mut s = lock(&self.state);
        s.syncs[i].frozen = false;
        let now = Instant::now();
        for (at, _) in &mut s.syncs[i].pending {
            *at = (*at).min(now);
        }
        promote(&mut s);
    }

    /// A logical synchronizer upgrade of synchronizer `i`: the participant moves to a successor
    /// (a new physical id, a new store with the current mapping); the old store stays listed.
    pub fn upgrade(&self, i: usize) {
        let mut s = lock(&self.state);
        promote(&mut s);
        let old = &mut s.syncs[i];
        old.connected = false;
        old.frozen = true;
        let successor = SyncStore::new(old.logical.clone(), 1, old.okm.clone());
        s.syncs.push(successor);
    }

    /// (fingerprint, name, kms key id) of every vault key.
    pub fn vault(&self) -> Vec<(String, String, Option<String>)> {
        lock(&self.state)
            .keys
            .iter()
            .map(|k| (fp(&k.key), k.name.clone(), k.kms_key_id.clone()))
            .collect()
    }

    pub fn fingerprint_named(&self, name: &str) -> Option<String> {
        lock(&self.state)
            .keys
            .iter()
            .find(|k| k.name == name)
            .map(|k| fp(&k.key))
    }

    /// Counts a call and applies any fault queued for it.
    fn enter(&self, method: &str) -> Result<Option<FaultKind>, Status> {
        let mut s = lock(&self.state);
        let Some((left, kind)) = s.faults.get_mut(method) else {
            return Ok(None);
        };
        if *left == 0 {
            return Ok(None);
        }
        *left -= 1;
        let kind = *kind;
        if kind == FaultKind::Before {
            return Err(Status::unavailable(format!("injected failure of {method}")));
        }
        Ok(Some(kind))
    }

    fn leave<T>(
        &self,
        method: &str,
        fault: Option<FaultKind>,
        value: T,
    ) -> Result<Response<T>, Status> {
        match fault {
            Some(FaultKind::After) => Err(Status::unavailable(format!(
                "injected failure of {method} after it took effect"
            ))),
            _ => Ok(Response::new(value)),
        }
    }

    fn add_key(
        &self,
        name: &str,
        key: PublicKey,
        kms_key_id: Option<String>,
    ) -> Result<(), Status> {
        let mut s = lock(&self.state);
        if s.keys.iter().any(|k| fp(&k.key) == fp(&key)) {
            return Err(Status::already_exists("key exists"));
        }
        s.keys.push(StoredKey {
            name: name.into(),
            key,
            kms_key_id,
        });
        Ok(())
    }

    fn next_seed(&self) -> u8 {
        let mut s = lock(&self.state);
        s.counter = s.counter.wrapping_add(1);
        s.counter
    }
}

/// Moves synchronizer changes whose delay has passed into view.
fn promote(s: &mut State) {
    let now = Instant::now();
    for store in s.syncs.iter_mut().filter(|x| !x.frozen) {
        store.pending.sort_by_key(|(t, _)| *t);
        while store.pending.first().is_some_and(|(t, _)| *t <= now) {
            let (_, okm) = store.pending.remove(0);
            store.okm = okm;
        }
    }
}

#[derive(Clone)]
struct RecordPath<S> {
    inner: S,
    fake: FakeParticipant,
}

impl<S, B> tower::Service<http::Request<B>> for RecordPath<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        lock(&self.fake.state)
            .calls
            .push(req.uri().path().to_string());
        self.inner.call(req)
    }
}

fn metadata(k: &StoredKey) -> PrivateKeyMetadata {
    PrivateKeyMetadata {
        public_key_with_name: Some(PublicKeyWithName {
            public_key: Some(k.key.clone()),
            name: k.name.clone(),
        }),
        wrapper_key_id: None,
        kms_key_id: k.kms_key_id.clone(),
    }
}

fn usage_of(key: &PublicKey) -> Vec<i32> {
    match &key.key {
        Some(public_key::Key::SigningPublicKey(k)) => k.usage.clone(),
        _ => vec![],
    }
}

#[tonic::async_trait]
impl VaultService for FakeParticipant {
    async fn list_my_keys(
        &self,
        _: Request<vault::ListMyKeysRequest>,
    ) -> Result<Response<vault::ListMyKeysResponse>, Status> {
        let fault = self.enter("ListMyKeys")?;
        let keys = lock(&self.state).keys.iter().map(metadata).collect();
        self.leave(
            "ListMyKeys",
            fault,
            vault::ListMyKeysResponse {
                private_keys_metadata: keys,
            },
        )
    }

    async fn generate_signing_key(
        &self,
        r: Request<vault::GenerateSigningKeyRequest>,
    ) -> Result<Response<vault::GenerateSigningKeyResponse>, Status> {
        let fault = self.enter("GenerateSigningKey")?;
        let r = r.into_inner();
        if r.key_spec != SigningKeySpec::EcCurve25519 as i32 || r.usage.is_empty() {
            return Err(Status::invalid_argument("spec or usage not as the old key"));
        }
        let usage: Vec<SigningKeyUsage> = r
            .usage
            .iter()
            .filter_map(|u| SigningKeyUsage::try_from(*u).ok())
            .collect();
        let key = signing_key(self.next_seed(), &usage);
        self.add_key(&r.name, key.clone(), None)?;
        let Some(public_key::Key::SigningPublicKey(k)) = key.key else {
            unreachable!()
        };
        self.leave(
            "GenerateSigningKey",
            fault,
            vault::GenerateSigningKeyResponse {
                public_key: Some(k),
            },
        )
    }

    async fn generate_encryption_key(
        &self,
        r: Request<vault::GenerateEncryptionKeyRequest>,
    ) -> Result<Response<vault::GenerateEncryptionKeyResponse>, Status> {
        let fault = self.enter("GenerateEncryptionKey")?;
        let r = r.into_inner();
        if r.key_spec != EncryptionKeySpec::EcP256 as i32 {
            return Err(Status::invalid_argument("spec not as the old key"));
        }
        let key = encryption_key(self.next_seed());
        self.add_key(&r.name, key.clone(), None)?;
        let Some(public_key::Key::EncryptionPublicKey(k)) = key.key else {
            unreachable!()
        };
        self.leave(
            "GenerateEncryptionKey",
            fault,
            vault::GenerateEncryptionKeyResponse {
                public_key: Some(k),
            },
        )
    }

    async fn register_kms_encryption_key(
        &self,
        r: Request<vault::RegisterKmsEncryptionKeyRequest>,
    ) -> Result<Response<vault::RegisterKmsEncryptionKeyResponse>, Status> {
        let fault = self.enter("RegisterKmsEncryptionKey")?;
        let r = r.into_inner();
        let key = lock(&self.state)
            .kms
            .get(&r.kms_key_id)
            .cloned()
            .ok_or_else(|| Status::not_found("no such KMS key"))?;
        self.add_key(&r.name, key.clone(), Some(r.kms_key_id))?;
        let Some(public_key::Key::EncryptionPublicKey(k)) = key.key else {
            return Err(Status::invalid_argument("not an encryption key"));
        };
        self.leave(
            "RegisterKmsEncryptionKey",
            fault,
            vault::RegisterKmsEncryptionKeyResponse {
                public_key: Some(k),
            },
        )
    }

    async fn register_kms_signing_key(
        &self,
        r: Request<vault::RegisterKmsSigningKeyRequest>,
    ) -> Result<Response<vault::RegisterKmsSigningKeyResponse>, Status> {
        let fault = self.enter("RegisterKmsSigningKey")?;
        let r = r.into_inner();
        let mut key = lock(&self.state)
            .kms
            .get(&r.kms_key_id)
            .cloned()
            .ok_or_else(|| Status::not_found("no such KMS key"))?;
        if let Some(public_key::Key::SigningPublicKey(k)) = &mut key.key {
            k.usage = r.usage.clone();
        }
        self.add_key(&r.name, key.clone(), Some(r.kms_key_id))?;
        let Some(public_key::Key::SigningPublicKey(k)) = key.key else {
            return Err(Status::invalid_argument("not a signing key"));
        };
        self.leave(
            "RegisterKmsSigningKey",
            fault,
            vault::RegisterKmsSigningKeyResponse {
                public_key: Some(k),
            },
        )
    }
}

fn store(store: store_id::Store) -> Option<StoreId> {
    Some(StoreId { store: Some(store) })
}

fn result(s: Option<StoreId>, okm: &OkmState) -> list_owner_to_key_mapping_response::Result {
    list_owner_to_key_mapping_response::Result {
        context: Some(BaseResult {
            store: s,
            operation: TopologyChangeOp::AddReplace as i32,
            serial: okm.serial as i32,
            ..Default::default()
        }),
        item: Some(OwnerToKeyMapping {
            member: MEMBER.into(),
            public_keys: okm.keys.clone(),
        }),
    }
}

#[tonic::async_trait]
impl TopologyManagerReadService for FakeParticipant {
    async fn list_owner_to_key_mapping(
        &self,
        r: Request<topology::ListOwnerToKeyMappingRequest>,
    ) -> Result<Response<topology::ListOwnerToKeyMappingResponse>, Status> {
        let fault = self.enter("ListOwnerToKeyMapping")?;
        let r = r.into_inner();
        let base = r
            .base_query
            .ok_or_else(|| Status::invalid_argument("base_query is required"))?;
        if base.time_query.is_none() {
            return Err(Status::invalid_argument("time_query is required"));
        }
        if !UID.starts_with(&r.filter_key_owner_uid)
            || !(r.filter_key_owner_type.is_empty() || r.filter_key_owner_type == "PAR")
        {
            return Ok(Response::new(topology::ListOwnerToKeyMappingResponse {
                results: vec![],
            }));
        }
        let mut s = lock(&self.state);
        promote(&mut s);
        let mut results = vec![result(
            store(store_id::Store::Authorized(store_id::Authorized {})),
            &s.auth,
        )];
        for sync in &s.syncs {
            let id = topology::Synchronizer {
                kind: Some(synchronizer::Kind::PhysicalId(sync.id.clone())),
            };
            results.push(result(store(store_id::Store::Synchronizer(id)), &sync.okm));
        }
        drop(s);
        self.leave(
            "ListOwnerToKeyMapping",
            fault,
            topology::ListOwnerToKeyMappingResponse { results },
        )
    }
}

#[tonic::async_trait]
impl TopologyManagerWriteService for FakeParticipant {
    async fn authorize(
        &self,
        r: Request<topology::AuthorizeRequest>,
    ) -> Result<Response<topology::AuthorizeResponse>, Status> {
        let fault = self.enter("Authorize")?;
        let r = r.into_inner();
        let Some(topology::authorize_request::Type::Proposal(p)) = r.r#type else {
            return Err(Status::invalid_argument("only proposals are supported"));
        };
        if !r.must_fully_authorize
            || !matches!(
                r.store.and_then(|s| s.store),
                Some(store_id::Store::Authorized(_))
            )
        {
            return Err(Status::invalid_argument(
                "expected a fully authorized change in the authorized store",
            ));
        }
        if p.change != TopologyChangeOp::AddReplace as i32 {
            return Err(Status::invalid_argument("expected ADD_REPLACE"));
        }
        let Some(topology_mapping::Mapping::OwnerToKeyMapping(okm)) =
            p.mapping.and_then(|m| m.mapping)
        else {
            return Err(Status::invalid_argument("expected an OwnerToKeyMapping"));
        };
        let mut s = lock(&self.state);
        if okm.member != MEMBER {
            return Err(Status::invalid_argument("wrong member"));
        }
        if p.serial != s.auth.serial + 1 {
            return Err(Status::failed_precondition(format!(
                "SerialMismatch: expected {}, got {}",
                s.auth.serial + 1,
                p.serial
            )));
        }
        if okm.public_keys.is_empty() {
            return Err(Status::invalid_argument("an OwnerToKeyMapping needs keys"));
        }
        for key in &okm.public_keys {
            let known = s.keys.iter().any(|k| k.key == *key);
            if !known {
                return Err(Status::invalid_argument(
                    "a key of the mapping is not in the vault",
                ));
            }
        }
        let has_signing = okm
            .public_keys
            .iter()
            .any(|k| usage_of(k).contains(&(SigningKeyUsage::Protocol as i32)));
        let has_encryption = okm
            .public_keys
            .iter()
            .any(|k| matches!(k.key, Some(public_key::Key::EncryptionPublicKey(_))));
        if !has_signing || !has_encryption {
            return Err(Status::invalid_argument(
                "a participant needs a protocol signing key and an encryption key",
            ));
        }
        let next = OkmState {
            serial: p.serial,
            keys: okm.public_keys,
        };
        s.auth = next.clone();
        let at = Instant::now() + s.delay;
        for sync in &mut s.syncs {
            sync.pending.push((at, next.clone()));
        }
        drop(s);
        self.leave("Authorize", fault, topology::AuthorizeResponse {})
    }
}

#[tonic::async_trait]
impl IdentityInitializationService for FakeParticipant {
    async fn get_id(
        &self,
        _: Request<topology::GetIdRequest>,
    ) -> Result<Response<topology::GetIdResponse>, Status> {
        let fault = self.enter("GetId")?;
        self.leave(
            "GetId",
            fault,
            topology::GetIdResponse {
                initialized: true,
                unique_identifier: UID.into(),
            },
        )
    }
}

#[tonic::async_trait]
impl SynchronizerConnectivityService for FakeParticipant {
    async fn list_connected_synchronizers(
        &self,
        _: Request<ListConnectedSynchronizersRequest>,
    ) -> Result<Response<ListConnectedSynchronizersResponse>, Status> {
        let fault = self.enter("ListConnectedSynchronizers")?;
        let connected = lock(&self.state)
            .syncs
            .iter()
            .filter(|x| x.connected)
            .map(|x| list_connected_synchronizers_response::Result {
                synchronizer_alias: x.logical.split("::").next().unwrap_or_default().into(),
                synchronizer_id: x.logical.clone(),
                physical_synchronizer_id: x.id.clone(),
                healthy: true,
            })
            .collect();
        self.leave(
            "ListConnectedSynchronizers",
            fault,
            ListConnectedSynchronizersResponse {
                connected_synchronizers: connected,
            },
        )
    }
}
