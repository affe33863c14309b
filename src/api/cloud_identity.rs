//! How a pod's Kubernetes ServiceAccount becomes a cloud identity, in the four ways EKS and GKE
//! clusters use today.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The mechanism that turns a ServiceAccount into a cloud identity (`spec.kms.serviceAccount`
/// and `spec.backup.identities.serviceAccount`). Absent: `irsa` on AWS, `gkeWorkloadIdentity`
/// on Google Cloud, the annotation-based mechanisms this operator has always checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CloudIdentity {
    /// EKS IAM Roles for Service Accounts: the ServiceAccount carries
    /// `eks.amazonaws.com/role-arn`, the role trusts the cluster's OIDC provider.
    #[serde(rename = "irsa")]
    Irsa,
    /// EKS Pod Identity: an association made in AWS (`aws eks create-pod-identity-association`)
    /// maps the ServiceAccount to a role that trusts `pods.eks.amazonaws.com`; nothing on the
    /// ServiceAccount.
    #[serde(rename = "eksPodIdentity")]
    EksPodIdentity,
    /// GKE Workload Identity through a Google service account: the ServiceAccount carries
    /// `iam.gke.io/gcp-service-account` and may impersonate it.
    #[serde(rename = "gkeWorkloadIdentity")]
    GkeWorkloadIdentity,
    /// GKE Workload Identity Federation granting the Kubernetes ServiceAccount directly (its
    /// `principal://…/subject/ns/<namespace>/sa/<name>` is on the IAM bindings); nothing on the
    /// ServiceAccount.
    #[serde(rename = "gkeWorkloadIdentityFederation")]
    GkeWorkloadIdentityFederation,
}

/// IRSA's role annotation.
pub const AWS_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// GKE Workload Identity's Google service account annotation.
pub const GCP_SA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";

impl CloudIdentity {
    /// The value as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            CloudIdentity::Irsa => "irsa",
            CloudIdentity::EksPodIdentity => "eksPodIdentity",
            CloudIdentity::GkeWorkloadIdentity => "gkeWorkloadIdentity",
            CloudIdentity::GkeWorkloadIdentityFederation => "gkeWorkloadIdentityFederation",
        }
    }

    /// Whether it is an AWS mechanism (else a Google Cloud one).
    pub fn is_aws(self) -> bool {
        matches!(self, CloudIdentity::Irsa | CloudIdentity::EksPodIdentity)
    }

    /// The annotation the ServiceAccount must carry, and what its value is.
    pub fn required_annotation(self) -> Option<(&'static str, &'static str)> {
        match self {
            CloudIdentity::Irsa => Some((AWS_ROLE_ANNOTATION, "IAM role ARN")),
            CloudIdentity::GkeWorkloadIdentity => {
                Some((GCP_SA_ANNOTATION, "Google service account email"))
            }
            CloudIdentity::EksPodIdentity | CloudIdentity::GkeWorkloadIdentityFederation => None,
        }
    }

    /// An annotation that must be absent: it would make the cluster use the other mechanism of
    /// the same cloud instead (the AWS SDKs try IRSA's web identity before Pod Identity's
    /// container credentials; GKE impersonates the annotated Google service account).
    pub fn conflicting_annotation(self) -> Option<&'static str> {
        match self {
            CloudIdentity::EksPodIdentity => Some(AWS_ROLE_ANNOTATION),
            CloudIdentity::GkeWorkloadIdentityFederation => Some(GCP_SA_ANNOTATION),
            CloudIdentity::Irsa | CloudIdentity::GkeWorkloadIdentity => None,
        }
    }
}
