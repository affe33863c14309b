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
        /// AWS account id of the keys and roles, 12 digits (default: from the awsRoleArn).
        #[arg(long)]
        account_id: Option<String>,
        /// The cluster's OIDC issuer for IRSA, as `aws eks describe-cluster --name <cluster>
        /// --query cluster.identity.oidc.issuer --output text` prints it
        /// (https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123).
        #[arg(long, alias = "oidc-issuer")]
        oidc_provider: Option<String>,
        /// The EKS cluster's name, for the EKS Pod Identity association.
        #[arg(long)]
        cluster_name: Option<String>,
        /// The GKE cluster project's number, for Workload Identity Federation principals.
        #[arg(long)]
        project_number: Option<String>,
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
    /// Identity backups: take one (the CronJob's command), list, verify or fetch dumps.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Splice releases of a fleet of Validators.
    Releases {
        #[command(subcommand)]
        command: ReleasesCommand,
    },
    /// Restores from an identity dump (the validator app's init container while `spec.restore` is
    /// imported).
    Restore {
        #[command(subcommand)]
        command: RestoreCommand,
    },
}

/// `releases` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReleasesCommand {
    /// List the Validators whose spec.version is below RELEASE (or is not a release number), from
    /// a file or a cluster; exit 0 when there is none, 1 when there is any (or on an error).
    Below {
        /// The release the network requires, such as 0.8.0.
        release: canton_operator::release::Version,
        /// YAML file of Validators (`-` for standard input); other kinds are skipped.
        #[arg(short = 'f', long = "file", conflicts_with_all = ["namespace", "all_namespaces"])]
        file: Option<PathBuf>,
        /// Namespace in the cluster (default: the kubeconfig's).
        #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
        namespace: Option<String>,
        /// Every namespace of the cluster.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

/// `restore` subcommands.
#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Fetch a dump, verify it and check it fits this Validator; with --cleared-fingerprint also
    /// write it for the validator app. Writes a one-line JSON result; exit 0 when written, 3 when
    /// verified and waiting for the operator's clearance, else 1.
    Fetch(RestoreFetchArgs),
}

/// Options of `restore fetch`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreFetchArgs {
    #[command(flatten)]
    pub at: DestinationArgs,
    /// Object name, as `backup list` shows it.
    #[arg(long, conflicts_with = "latest", required_unless_present = "latest")]
    pub object: Option<String>,
    /// The newest dump of --validator that verifies.
    #[arg(long, requires = "validator")]
    pub latest: bool,
    /// Name of the Validator whose dumps these are (with --latest).
    #[arg(long)]
    pub validator: Option<String>,
    /// Its namespace (default: POD_NAMESPACE, else the in-cluster namespace).
    #[arg(short = 'n', long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// The identifier the dump must be of (`PAR::<identifier>::…`).
    #[arg(long)]
    pub participant_identifier: String,
    /// The restored participant's new identifier (the dump must not be of it already).
    #[arg(long)]
    pub new_participant_identifier: String,
    /// Where this Validator keeps keys: off, envelope, aws/<region>,
    /// gcp/<project>/<location>/<key ring> or driver/<name>.
    #[arg(long)]
    pub kms: String,
    /// The object the operator cleared for import (with --cleared-fingerprint).
    #[arg(long, requires = "cleared_fingerprint")]
    pub cleared_object: Option<String>,
    /// The namespace fingerprint the operator cleared: write the dump only if it has it.
    #[arg(long, requires = "cleared_object")]
    pub cleared_fingerprint: Option<String>,
    /// Where the dump is written for the validator app.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Where the one-line JSON result is written (also printed on standard output).
    #[arg(long, default_value = "/dev/termination-log")]
    pub result_file: PathBuf,
}

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Fetch the validator's node identities dump, verify it, upload it, apply retention, and
    /// write a one-line JSON result (exit 0 only for a verified upload).
    Identities(IdentitiesArgs),
    /// List a validator's dumps, newest first, with size and whether each verifies.
    List {
        #[command(flatten)]
        at: DestinationArgs,
        /// Name of the Validator.
        #[arg(long)]
        validator: String,
        /// Namespace of the Validator (default: POD_NAMESPACE, else the in-cluster namespace).
        #[arg(short = 'n', long, env = "POD_NAMESPACE")]
        namespace: Option<String>,
        /// Verify against this participant identifier (default: each dump's own).
        #[arg(long)]
        participant_identifier: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Check a dump file offline; exit 0 if it verifies, else 1 with the reason.
    Verify {
        /// The dump file (`-` for standard input).
        file: PathBuf,
        /// The validator's participant identifier (the `<identifier>` of `PAR::<identifier>::…`).
        #[arg(long)]
        participant_identifier: String,
    },
    /// Download one dump: `--object NAME`, or the newest verified with `--latest --validator NAME`.
    Fetch {
        #[command(flatten)]
        at: DestinationArgs,
        /// Object name, as `backup list` shows it.
        #[arg(long, conflicts_with = "latest", required_unless_present = "latest")]
        object: Option<String>,
        /// The newest dump that verifies.
        #[arg(long, requires = "validator")]
        latest: bool,
        /// Name of the Validator (with --latest).
        #[arg(long)]
        validator: Option<String>,
        /// Namespace of the Validator (default: POD_NAMESPACE, else the in-cluster namespace).
        #[arg(short = 'n', long, env = "POD_NAMESPACE")]
        namespace: Option<String>,
        /// Verify against this participant identifier (with --latest; default: each dump's own).
        #[arg(long)]
        participant_identifier: Option<String>,
        /// Where to write the dump.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
}

/// Where dumps are kept.
#[derive(Debug, Clone, clap::Args)]
pub struct DestinationArgs {
    /// `s3://BUCKET/PREFIX`, `gcs://BUCKET/PREFIX`, or `secret` (Kubernetes Secrets in the
    /// namespace: in the cluster, not an off-cluster backup).
    #[arg(long)]
    pub destination: String,
    /// AWS region of an s3:// bucket.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Another S3 API endpoint (for example MinIO).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
}

/// Options of `backup identities`. The OAuth2 client of the validator app's ledger API client
/// comes from its usual Secret, as environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentitiesArgs {
    #[command(flatten)]
    pub at: DestinationArgs,
    /// The validator app's admin address, e.g. http://acme-validator-app:5003.
    #[arg(long)]
    pub validator_app_url: String,
    /// The participant identifier the dump must name (`PAR::<identifier>::<fingerprint>`).
    #[arg(long)]
    pub participant_identifier: String,
    /// The namespace fingerprint the dump must name (a restored validator's).
    #[arg(long)]
    pub participant_fingerprint: Option<String>,
    /// Name of the Validator (object names are `<prefix>/<namespace>/<validator>/…`).
    #[arg(long)]
    pub validator: String,
    /// Namespace of the Validator (default: POD_NAMESPACE, else the in-cluster namespace).
    #[arg(short = 'n', long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Dumps kept after a verified run; the newest verified one is never deleted.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
    /// Where the one-line JSON result is written (also printed on standard output).
    #[arg(long, default_value = "/dev/termination-log")]
    pub result_file: PathBuf,
    #[arg(long, env = "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_URL", hide = true)]
    pub auth_url: Option<String>,
    #[arg(
        long,
        env = "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_ID",
        hide = true
    )]
    pub client_id: Option<String>,
    #[arg(
        long,
        env = "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET",
        hide = true,
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    #[arg(
        long,
        env = "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_AUDIENCE",
        hide = true
    )]
    pub audience: Option<String>,
    #[arg(long, env = "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_SCOPE", hide = true)]
    pub scope: Option<String>,
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
    /// Validators whose workloads a new operator release renders differently that are rolled
    /// (restarted) at once; the others wait for a slot (0: no limit; docs/upgrade.md). Changes
    /// made to a Validator and drift are applied at once whatever this says.
    #[arg(long, env = "CANTON_OPERATOR_MAX_CONCURRENT_ROLLOUTS", default_value_t = canton_operator::controller::DEFAULT_MAX_CONCURRENT_ROLLOUTS)]
    pub max_concurrent_rollouts: u32,
    /// The Splice release the network requires of its validators, and from when:
    /// `VERSION[@DATE]`, such as `0.8.0@2026-12-15` (midnight UTC) or
    /// `0.8.0@2026-12-15T12:00:00Z`; without a date, required now. Validators below it get
    /// `MinimumReleaseMet=False` and a Warning Event, ahead of the date and after it, and count in
    /// `canton_operator_validators_below_minimum_release` (docs/releases.md).
    #[arg(long, env = "CANTON_OPERATOR_MINIMUM_RELEASE")]
    pub minimum_release: Option<canton_operator::minimum_release::MinimumRelease>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_release_flag_reads_a_version_and_a_date() {
        let cli = Cli::try_parse_from([
            "canton-operator",
            "run",
            "--minimum-release",
            "0.8.0@2026-12-15",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            args.minimum_release.map(|m| m.to_string()).as_deref(),
            Some("0.8.0@2026-12-15T00:00:00Z")
        );
        let bad = Cli::try_parse_from(["canton-operator", "run", "--minimum-release", "0.8"]);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("not a release number")
        );
    }

    #[test]
    fn releases_below_reads_a_file_or_a_namespace_but_not_both() {
        let both = Cli::try_parse_from([
            "canton-operator",
            "releases",
            "below",
            "0.8.0",
            "-f",
            "x.yaml",
            "-n",
            "ns",
        ]);
        assert!(both.is_err());
        let cluster =
            Cli::try_parse_from(["canton-operator", "releases", "below", "0.8.0", "-A"]).unwrap();
        assert!(matches!(
            cluster.command,
            Command::Releases {
                command: ReleasesCommand::Below {
                    all_namespaces: true,
                    ..
                }
            }
        ));
    }
}
