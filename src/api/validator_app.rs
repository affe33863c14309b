//! The validator app's network settings (scan client, synchronizer, wallet, top-ups, pruning) and
//! the web UIs the validator chart deploys beside it.

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults::yes;

/// How the validator app reads from Scan (Splice's `scan-client`; it has no default, so the
/// operator always writes one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type != 'trust-single' || has(self.url)")
        .message("scanClient type trust-single needs url"),
    validation = Rule::new("self.type == 'trust-single' || !has(self.url)")
        .message("scanClient url applies only to type trust-single; bft and bft-custom use seedUrls"),
    validation = Rule::new("self.type != 'bft-custom' || (has(self.svNames) && has(self.threshold) && size(self.svNames) >= self.threshold)")
        .message("scanClient type bft-custom needs svNames and a threshold of at most their number"),
    validation = Rule::new("self.type == 'bft-custom' || (!has(self.svNames) && !has(self.threshold))")
        .message("scanClient svNames and threshold apply only to type bft-custom"),
)]
pub struct ScanClient {
    /// `bft` (read from several Scans, trust what enough agree on), `bft-custom` (only the named
    /// SVs' Scans, with a threshold) or `trust-single` (one Scan, trusted).
    #[serde(rename = "type")]
    pub type_: ScanClientType,
    /// Scan URLs to discover the others from (`bft`, `bft-custom`; default: `scanAddress`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub seed_urls: Vec<String>,
    /// SV names whose Scans are trusted (`bft-custom`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub sv_names: Vec<String>,
    /// How many of `svNames` must agree (`bft-custom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub threshold: Option<i32>,
    /// The one Scan (`trust-single`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Splice's scan client types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ScanClientType {
    #[default]
    Bft,
    BftCustom,
    TrustSingle,
}

impl ScanClientType {
    /// Splice's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanClientType::Bft => "bft",
            ScanClientType::BftCustom => "bft-custom",
            ScanClientType::TrustSingle => "trust-single",
        }
    }
}

/// How the participant connects to the global synchronizer (the chart's `synchronizer`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.connectionType != 'trust-single' || has(self.url)")
        .message("synchronizer connectionType trust-single needs url"),
    validation = Rule::new("self.connectionType == 'trust-single' || !has(self.url)")
        .message("synchronizer url applies only to connectionType trust-single"),
    validation = Rule::new("self.connectionType != 'bft-custom' || (has(self.svNames) && has(self.threshold) && size(self.svNames) >= self.threshold)")
        .message("synchronizer connectionType bft-custom needs svNames and a threshold of at most their number"),
    validation = Rule::new("self.connectionType == 'bft-custom' || (!has(self.svNames) && !has(self.threshold))")
        .message("synchronizer svNames and threshold apply only to connectionType bft-custom"),
)]
pub struct SynchronizerConnection {
    /// `bft` (every SV's sequencer, as Scan lists them), `bft-custom` (the named SVs' sequencers)
    /// or `trust-single` (one sequencer URL).
    pub connection_type: ScanClientType,
    /// Sequencer URL (`trust-single`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SVs whose sequencers are used (`bft-custom`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub sv_names: Vec<String>,
    /// How many of them must agree (`bft-custom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub threshold: Option<i32>,
}

/// The validator's wallet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletSettings {
    /// The wallet HTTP API and its automations (default `true`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sweep a party's balance above a ceiling to another party.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub sweeps: Vec<WalletSweep>,
    /// Accept incoming transfer offers for a party automatically.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub auto_accept_transfers: Vec<AutoAcceptTransfers>,
}

impl Default for WalletSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            sweeps: Vec::new(),
            auto_accept_transfers: Vec::new(),
        }
    }
}

/// One sweep (`wallet-sweep."<fromParty>"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletSweep {
    /// Party whose balance is swept.
    #[schemars(length(min = 1, max = 512))]
    pub from_party: String,
    /// Party that receives the sweep.
    #[schemars(length(min = 1, max = 512))]
    pub to_party: String,
    /// Sweep when the balance exceeds this many USD.
    pub max_balance_usd: f64,
    /// Leave this many USD behind.
    pub min_balance_usd: f64,
    /// Transfer through the receiver's transfer pre-approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_transfer_preapproval: Option<bool>,
}

/// Auto-accepted transfers for one party (`auto-accept-transfers."<party>"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoAcceptTransfers {
    /// The receiving party.
    #[schemars(length(min = 1, max = 512))]
    pub party: String,
    /// Senders whose offers are accepted.
    #[schemars(length(max = 64))]
    pub from_parties: Vec<String>,
}

/// Traffic top-ups: the app buys traffic for the participant when it runs low.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopupSettings {
    /// Default `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Target throughput in bytes per second (default 20000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub target_throughput: Option<i64>,
    /// Minimum time between top-ups, such as `1m` (default); at least the app's 30 s polling
    /// interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+[smh]$"))]
    pub min_topup_interval: Option<String>,
    /// Traffic in bytes kept in reserve, never spent on ordinary submissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub reserved_traffic: Option<i64>,
}

impl Default for TopupSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            target_throughput: None,
            min_topup_interval: None,
            reserved_traffic: None,
        }
    }
}

/// When the app prunes the participant (`participant-pruning-schedule`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PruningSchedule {
    /// Quartz cron expression, such as `0 /10 * * * ?`.
    #[schemars(length(min = 1, max = 128))]
    pub cron: String,
    /// How long one pruning run may take, such as `5m`.
    #[schemars(length(min = 1, max = 32))]
    pub max_duration: String,
    /// How much history to keep, such as `30d`; longer than the deduplication duration.
    #[schemars(length(min = 1, max = 32))]
    pub retention: String,
}

/// The wallet and ANS web UIs (both on by default, as in the validator chart).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebUisSpec {
    /// The wallet UI (`<name>-wallet-web-ui`; OIDC client from Secret `splice-app-wallet-ui-auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<WebUi>,
    /// The name service UI (`<name>-ans-web-ui`; OIDC client from Secret `splice-app-cns-ui-auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ans: Option<WebUi>,
    /// Audience the UIs request tokens for (default: `validatorApp.auth.audience`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// OAuth scope the UIs request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// How often the UIs poll, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100))]
    pub poll_interval_ms: Option<i64>,
    /// The network's names as the UIs show them (defaults: Canton Network, Canton Coin / CC,
    /// Canton Name Service / CNS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_names: Option<InstanceNames>,
    /// Scheduling and metadata of both UIs' pods, over `spec.pods` (maps merged key by key,
    /// other fields replaced whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<super::pods::PodSettings>,
}

/// One web UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebUi {
    /// Default `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Full image reference; default `<Splice repository>/<wallet|ans>-web-ui:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Secret with the UI's OIDC `url` and `client-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub auth_secret: Option<String>,
    /// Compute resources; replace the chart's defaults (requests cpu 100m, memory 240Mi; limit
    /// memory 1536Mi) as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl Default for WebUi {
    fn default() -> Self {
        Self {
            enabled: true,
            image: None,
            auth_secret: None,
            resources: None,
        }
    }
}

/// `spliceInstanceNames` of the charts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_favicon_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amulet_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amulet_name_acronym: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_service_name_acronym: Option<String>,
}
