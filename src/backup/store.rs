//! Where dumps are kept: an S3 or GCS bucket (through `object_store`, with the Job's workload
//! identity) or, for small set-ups, Kubernetes Secrets in the Job's namespace (not off-cluster).

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, ObjectMeta as KubeMeta, PostParams};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, RetryConfig};

/// Label on every Secret dump, and its value.
pub const SECRET_KIND_LABEL: &str = "canton-operator.dev/backup";
pub const SECRET_KIND_VALUE: &str = "identities";
/// Label naming the validator a Secret dump belongs to.
pub const SECRET_VALIDATOR_LABEL: &str = "canton-operator.dev/validator";
/// Annotation holding a Secret dump's object name.
pub(crate) const SECRET_OBJECT_ANNOTATION: &str = "canton-operator.dev/object";
/// The data key of a Secret dump.
pub(crate) const SECRET_DATA_KEY: &str = "identities.json";

/// A `--destination`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    S3 {
        bucket: String,
        prefix: String,
    },
    Gcs {
        bucket: String,
        prefix: String,
    },
    /// Secrets in the Job's namespace: in the cluster, so lost with it.
    Secret,
}

/// Why the destination could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("destination {0:?} is not s3://BUCKET[/PREFIX], gcs://BUCKET[/PREFIX] or secret")]
    Destination(String),
    #[error("an s3:// destination needs --region (the bucket's AWS region)")]
    Region,
    #[error("setting up {what}: {source}")]
    Setup {
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{op} {name}: {source}")]
    Object {
        op: &'static str,
        name: String,
        #[source]
        source: object_store::Error,
    },
    #[error("connecting to the cluster for Secret dumps: {0}")]
    Kube(#[source] kube::Error),
    #[error("{op} Secret dump {name}: {source}")]
    Secret {
        op: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Secret dump {0} has no {SECRET_DATA_KEY} data")]
    SecretData(String),
    #[error("no dump named {0}")]
    NotFound(String),
}

impl Destination {
    /// Reads `s3://bucket/prefix`, `gcs://bucket/prefix` (also `gs://`) or `secret`.
    pub fn parse(text: &str) -> Result<Destination, StoreError> {
        if text == "secret" {
            return Ok(Destination::Secret);
        }
        let bad = || StoreError::Destination(text.to_string());
        let (scheme, rest) = text.split_once("://").ok_or_else(bad)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.contains(char::is_whitespace) {
            return Err(bad());
        }
        let prefix = prefix.trim_matches('/').to_string();
        match scheme {
            "s3" => Ok(Destination::S3 {
                bucket: bucket.into(),
                prefix,
            }),
            "gcs" | "gs" => Ok(Destination::Gcs {
                bucket: bucket.into(),
                prefix,
            }),
            _ => Err(bad()),
        }
    }

    /// The object-name prefix (empty for Secrets).
    pub(crate) fn prefix(&self) -> &str {
        match self {
            Destination::S3 { prefix, .. } | Destination::Gcs { prefix, .. } => prefix,
            Destination::Secret => "",
        }
    }
}

/// The folder of one validator's dumps: `<prefix>/<namespace>/<validator>`.
pub fn folder(prefix: &str, namespace: &str, validator: &str) -> String {
    [prefix, namespace, validator]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// A dump's object name: `<folder>/identities-<stamp>.json`.
pub(crate) fn object_name(folder: &str, stamp: &str) -> String {
    format!("{folder}/identities-{stamp}.json")
}

/// The stamp of an object name written by [`object_name`], if it is one.
pub(crate) fn stamp_of(name: &str) -> Option<&str> {
    let file = name.rsplit('/').next()?;
    let stamp = file.strip_prefix("identities-")?.strip_suffix(".json")?;
    let ok = stamp.len() == 16
        && stamp.is_ascii()
        && stamp.as_bytes()[8] == b'T'
        && stamp.ends_with('Z')
        && stamp[..8]
            .bytes()
            .chain(stamp[9..15].bytes())
            .all(|b| b.is_ascii_digit());
    ok.then_some(stamp)
}

/// The Secret a dump is kept in: `<validator>-identities-<stamp>`, lower case (a DNS name).
pub(crate) fn secret_name(validator: &str, stamp: &str) -> String {
    format!("{validator}-identities-{}", stamp.to_ascii_lowercase())
}

/// One stored dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub stamp: String,
    pub size: u64,
}

/// Connection settings of object stores.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    /// AWS region of an S3 bucket.
    pub region: Option<String>,
    /// Another S3 API endpoint (MinIO, a test server); `http://` is allowed for it.
    pub endpoint: Option<String>,
}

/// An opened destination.
#[derive(Clone)]
pub enum Store {
    Object(Arc<dyn ObjectStore>),
    Secrets(Box<kube::Api<Secret>>),
}

/// Retries kept short: a CronJob runs again, and a hanging Job hides a failure.
fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(60),
        ..RetryConfig::default()
    }
}

impl Store {
    /// Opens a destination with the ambient credentials: the AWS chain (IRSA web identity,
    /// static keys), GCP's (Workload Identity through the metadata server, or a key file), or
    /// the in-cluster service account for Secrets.
    pub(crate) async fn open(dest: &Destination, connect: &Connect) -> Result<Store, StoreError> {
        match dest {
            Destination::S3 { bucket, .. } => {
                let region = connect.region.clone().ok_or(StoreError::Region)?;
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_retry(retry());
                if let Some(endpoint) = &connect.endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                let s = b.build().map_err(|source| StoreError::Setup {
                    what: format!("S3 bucket {bucket}"),
                    source,
                })?;
                Ok(Store::Object(Arc::new(s)))
            }
            Destination::Gcs { bucket, .. } => {
                let s = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry())
                    .build()
                    .map_err(|source| StoreError::Setup {
                        what: format!("GCS bucket {bucket}"),
                        source,
                    })?;
                Ok(Store::Object(Arc::new(s)))
            }
            Destination::Secret => {
                let client = kube::Client::try_default()
                    .await
                    .map_err(StoreError::Kube)?;
                Ok(Store::Secrets(Box::new(kube::Api::default_namespaced(
                    client,
                ))))
            }
        }
    }

    /// Secret dumps in `namespace` through `client`.
    pub fn secrets(client: kube::Client, namespace: &str) -> Store {
        Store::Secrets(Box::new(kube::Api::namespaced(client, namespace)))
    }

    /// Writes a dump.
    pub(crate) async fn put(
        &self,
        name: &str,
        validator: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Object(s) => {
                s.put(&Path::from(name), PutPayload::from(bytes))
                    .await
                    .map_err(|source| StoreError::Object {
                        op: "writing",
                        name: name.into(),
                        source,
                    })?;
                Ok(())
            }
            Store::Secrets(api) => {
                let stamp = stamp_of(name).ok_or_else(|| StoreError::NotFound(name.into()))?;
                let secret = secret_dump(name, validator, stamp, bytes);
                api.create(&PostParams::default(), &secret)
                    .await
                    .map_err(|source| StoreError::Secret {
                        op: "creating",
                        name: name.into(),
                        source,
                    })?;
                Ok(())
            }
        }
    }

    /// The dumps in `folder`, newest first.
    pub async fn list(&self, folder: &str, validator: &str) -> Result<Vec<Entry>, StoreError> {
        let mut entries = match self {
            Store::Object(s) => list_objects(s.as_ref(), folder).await?,
            Store::Secrets(api) => list_secrets(api, folder, validator).await?,
        };
        entries.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| b.name.cmp(&a.name)));
        Ok(entries)
    }

    /// Reads a dump.
    pub async fn get(&self, name: &str, validator: &str) -> Result<Vec<u8>, StoreError> {
        match self {
            Store::Object(s) => {
                let err = |source| StoreError::Object {
                    op: "reading",
                    name: name.into(),
                    source,
                };
                let got = s.get(&Path::from(name)).await.map_err(err)?;
                Ok(got.bytes().await.map_err(err)?.to_vec())
            }
            Store::Secrets(api) => {
                let secret = api
                    .get(&secret_for(name, validator)?)
                    .await
                    .map_err(|source| StoreError::Secret {
                        op: "reading",
                        name: name.into(),
                        source,
                    })?;
                secret
                    .data
                    .and_then(|mut d| d.remove(SECRET_DATA_KEY))
                    .map(|b| b.0)
                    .ok_or_else(|| StoreError::SecretData(name.into()))
            }
        }
    }

    /// Deletes a dump.
    pub(crate) async fn delete(&self, name: &str, validator: &str) -> Result<(), StoreError> {
        match self {
            Store::Object(s) => {
                s.delete(&Path::from(name))
                    .await
                    .map_err(|source| StoreError::Object {
                        op: "deleting",
                        name: name.into(),
                        source,
                    })
            }
            Store::Secrets(api) => {
                api.delete(&secret_for(name, validator)?, &DeleteParams::default())
                    .await
                    .map_err(|source| StoreError::Secret {
                        op: "deleting",
                        name: name.into(),
                        source,
                    })?;
                Ok(())
            }
        }
    }
}

async fn list_objects(s: &dyn ObjectStore, folder: &str) -> Result<Vec<Entry>, StoreError> {
    let prefix = Path::from(folder);
    let metas: Vec<_> = s
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| StoreError::Object {
            op: "listing",
            name: format!("{folder}/"),
            source,
        })?;
    Ok(metas
        .into_iter()
        .filter_map(|m| {
            let name = m.location.to_string();
            let in_folder = name.rsplit_once('/').map(|(dir, _)| dir) == Some(folder);
            let stamp = stamp_of(&name)?.to_string();
            in_folder.then(|| Entry {
                stamp,
                size: m.size,
                name: name.clone(),
            })
        })
        .collect())
}

async fn list_secrets(
    api: &kube::Api<Secret>,
    folder: &str,
    validator: &str,
) -> Result<Vec<Entry>, StoreError> {
    let selector =
        format!("{SECRET_KIND_LABEL}={SECRET_KIND_VALUE},{SECRET_VALIDATOR_LABEL}={validator}");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| StoreError::Secret {
            op: "listing",
            name: selector.clone(),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|s| {
            let name = s
                .metadata
                .annotations
                .as_ref()?
                .get(SECRET_OBJECT_ANNOTATION)?
                .clone();
            let in_folder = name.rsplit_once('/').map(|(dir, _)| dir) == Some(folder);
            let stamp = stamp_of(&name)?.to_string();
            let size = s.data.as_ref()?.get(SECRET_DATA_KEY)?.0.len() as u64;
            in_folder.then_some(Entry { name, stamp, size })
        })
        .collect())
}

fn secret_for(name: &str, validator: &str) -> Result<String, StoreError> {
    let stamp = stamp_of(name).ok_or_else(|| StoreError::NotFound(name.into()))?;
    Ok(secret_name(validator, stamp))
}

/// The Secret a dump is written as: labelled for listing, annotated with its object name.
pub(crate) fn secret_dump(name: &str, validator: &str, stamp: &str, bytes: Vec<u8>) -> Secret {
    Secret {
        metadata: KubeMeta {
            name: Some(secret_name(validator, stamp)),
            labels: Some(
                [
                    (SECRET_KIND_LABEL.to_string(), SECRET_KIND_VALUE.to_string()),
                    (SECRET_VALIDATOR_LABEL.to_string(), validator.to_string()),
                    (
                        "app.kubernetes.io/managed-by".to_string(),
                        "canton-operator".to_string(),
                    ),
                ]
                .into(),
            ),
            annotations: Some([(SECRET_OBJECT_ANNOTATION.to_string(), name.to_string())].into()),
            ..KubeMeta::default()
        },
        immutable: Some(true),
        type_: Some("Opaque".into()),
        data: Some([(SECRET_DATA_KEY.to_string(), ByteString(bytes))].into()),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        assert_eq!(
            Destination::parse("s3://b/p/q/").unwrap(),
            Destination::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            }
        );
        assert_eq!(
            Destination::parse("gcs://b").unwrap(),
            Destination::Gcs {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert_eq!(Destination::parse("secret").unwrap(), Destination::Secret);
        for bad in ["s3://", "file:///x", "b/p", "s3:///p", ""] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_names_carry_their_stamp() {
        let f = folder("backups", "validators", "acme");
        let name = object_name(&f, "20260102T030405Z");
        assert_eq!(
            name,
            "backups/validators/acme/identities-20260102T030405Z.json"
        );
        assert_eq!(stamp_of(&name), Some("20260102T030405Z"));
        assert_eq!(folder("", "ns", "v"), "ns/v");
        for other in [
            "x/identities-2026010é03040Z.json",
            "x/identities-2026.json",
            "x/identities-20260102X030405Z.json",
            "x/other.json",
        ] {
            assert_eq!(stamp_of(other), None, "{other}");
        }
    }

    #[test]
    fn secret_dumps_are_labelled_and_named_in_lower_case() {
        let s = secret_dump(
            "ns/acme/identities-20260102T030405Z.json",
            "acme",
            "20260102T030405Z",
            b"{}".to_vec(),
        );
        assert_eq!(
            s.metadata.name.as_deref(),
            Some("acme-identities-20260102t030405z")
        );
        let labels = s.metadata.labels.unwrap();
        assert_eq!(labels[SECRET_KIND_LABEL], SECRET_KIND_VALUE);
        assert_eq!(labels[SECRET_VALIDATOR_LABEL], "acme");
        assert_eq!(s.immutable, Some(true));
    }
}
