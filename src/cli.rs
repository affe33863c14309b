//! Command-line interface: subcommands that call into the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Provisions Canton Network validators and decides, visibly, where participant keys live.
#[derive(Debug, Parser)]
#[command(name = "canton-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator against the cluster in the kubeconfig (or in-cluster).
    Run(RunArgs),
    /// Print the CustomResourceDefinition YAML.
    Crd {
        /// Print the field reference in Markdown instead (docs/crd-reference.md).
        #[arg(long)]
        reference: bool,
    },
    /// Print the objects each Validator would get if provisioned now, with this environment.
    Render {
        /// YAML file of one or more Validators, `---` between them (`-` for standard input).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Check the operator's KMS environment variables and print the effective configuration.
    CheckConfig,
    /// Check on a live cluster that a validator's participant uses the KMS as recorded.
    Verify {
        /// Name of the Validator.
        validator: String,
        /// Namespace of the Validator (default: the kubeconfig's).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Print the least-privilege cloud policy (AWS IAM + IRSA trust, or GCP roles + Workload
    /// Identity binding) a Validator's participant needs.
    IamPolicy {
        /// Validator YAML file (`-` for standard input).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// AWS account id of the keys (default: from spec.kms.serviceAccount.awsRoleArn).
        #[arg(long)]
        account_id: Option<String>,
        /// The cluster's IRSA OIDC provider, e.g. oidc.eks.eu-west-1.amazonaws.com/id/ABC123.
        #[arg(long)]
        oidc_provider: Option<String>,
    },
    /// List a validator participant's keys: fingerprint, name, purpose, usage, KMS key id, and
    /// whether each is in its OwnerToKeyMapping or retired.
    Keys {
        /// Name of the Validator.
        validator: String,
        /// Namespace of the Validator (default: the kubeconfig's).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Admin API `host:port` (for example after `kubectl port-forward svc/<validator>-participant 5002`);
        /// default: the participant Service's in-cluster address.
        #[arg(long)]
        admin_address: Option<String>,
        /// PEM CA file: connect with TLS (default: the Validator's spec.kms.rotation.adminApiTls, else plaintext).
        #[arg(long)]
        admin_ca_file: Option<PathBuf>,
        /// Name on the Admin API's certificate (with --admin-ca-file).
        #[arg(long)]
        admin_server_name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

/// Options of `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Namespace of the leader-election Lease (default: the operator's own, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "canton-operator-leader")]
    pub lease_name: String,
    /// This replica's identity in the Lease (default: POD_NAME, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Validators reconciled at once (16: faster than 1 or 4 with fewer requests in the scale
    /// runs, docs/performance.md).
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Milliseconds a Validator's reconcile waits for further changes to it or its children
    /// before it runs, so a burst of watch events makes one reconcile (0: none; 250 sent 14 % fewer
    /// requests while provisioning than 0, and as few as 100–1000, in the scale runs,
    /// docs/performance.md).
    #[arg(long, env = "CANTON_OPERATOR_DEBOUNCE_MS", default_value_t = canton_operator::controller::DEFAULT_DEBOUNCE_MS)]
    pub debounce_ms: u64,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Output format of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}
