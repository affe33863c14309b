//! Entry point: parse the command line and call into the library.

mod cli;

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use canton_operator::config::OperatorConfig;
use canton_operator::{manifest, operator};
use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        // `crd | head`: the reader has what it wanted; nothing to report.
        Err(e) if e.chain().any(|c| c.is::<StdoutClosed>()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: a cause whose text the message already holds (an
/// error whose message includes its source, as thiserror's `{0}` with `#[from]` does) is not
/// repeated.
fn report(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// The reader of standard output went away (`| head`): the command ends quietly, exit 0.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
struct StdoutClosed;

/// Writes to standard output; a closed pipe is [`StdoutClosed`] instead of `print!`'s panic.
fn emit(text: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Crd { reference } => {
            if reference {
                emit(canton_operator::reference::markdown())?;
            } else {
                emit(manifest::crd_yaml()?)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Render { file } => {
            let text = read_input(&file)?;
            let config = OperatorConfig::from_env();
            emit(manifest::render_yaml(&text, &config)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => check_config(),
        Command::IamPolicy {
            file,
            account_id,
            oidc_provider,
            cluster_name,
            project_number,
        } => {
            let text = read_input(&file)?;
            let facts = canton_operator::iam::ClusterFacts {
                aws_account_id: account_id,
                oidc_provider,
                cluster_name,
                gcp_project_number: project_number,
            }
            .checked()?;
            let policy = manifest::iam_policy_json(&text, &OperatorConfig::from_env(), &facts)?;
            emit(format_args!("{policy}\n"))?;
            for placeholder in canton_operator::iam::placeholders(&policy) {
                eprintln!(
                    "warning: {placeholder} is a placeholder left in the output: {}",
                    canton_operator::iam::placeholder_hint(&placeholder)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run(args),
        Command::Verify {
            validator,
            namespace,
            output,
        } => verify(&validator, namespace, output),
        Command::Keys {
            validator,
            namespace,
            admin_address,
            admin_ca_file,
            admin_server_name,
            output,
        } => {
            let target = KeysTarget {
                address: admin_address,
                ca_file: admin_ca_file,
                server_name: admin_server_name,
            };
            keys(&validator, namespace, target, output)
        }
        Command::Backup { command } => backup(command),
        Command::Releases {
            command:
                cli::ReleasesCommand::Below {
                    release,
                    file,
                    namespace,
                    all_namespaces,
                    output,
                },
        } => releases_below(release, file, namespace, all_namespaces, output),
        Command::Restore {
            command: cli::RestoreCommand::Fetch(args),
        } => restore_fetch(args),
    }
}

/// The restore init container's run: the result line goes to the result file and standard
/// output, whatever happens.
fn restore_fetch(args: cli::RestoreFetchArgs) -> anyhow::Result<ExitCode> {
    use canton_operator::backup::{commands, store};
    use canton_operator::restore::{KmsTarget, RestoreReason, RestoreResult, fetch};
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let settings = || -> Result<fetch::FetchSpec, String> {
        let source = match (args.object.clone(), args.validator.clone()) {
            (Some(object), _) => fetch::Source::Object(object),
            (None, Some(validator)) => fetch::Source::Latest {
                validator,
                namespace: commands::namespace(args.namespace.clone())
                    .map_err(|e| e.to_string())?,
            },
            (None, None) => {
                return Err("say which dump: --object NAME, or --latest --validator NAME".into());
            }
        };
        Ok(fetch::FetchSpec {
            destination: store::Destination::parse(&args.at.destination)
                .map_err(|e| e.to_string())?,
            connect: connect(&args.at),
            source,
            participant_identifier: args.participant_identifier.clone(),
            new_participant_identifier: args.new_participant_identifier.clone(),
            kms: KmsTarget::parse(&args.kms)?,
            cleared: args
                .cleared_object
                .clone()
                .zip(args.cleared_fingerprint.clone())
                .map(|(object, fingerprint)| fetch::Cleared {
                    object,
                    fingerprint,
                }),
            output: args.output.clone(),
        })
    };
    let result = match settings() {
        Ok(spec) => runtime.block_on(fetch::run(&spec)),
        Err(message) => RestoreResult::new(RestoreReason::InvalidConfig, message),
    };
    let line = result.to_line();
    println!("{line}");
    if let Err(e) = std::fs::write(&args.result_file, &line) {
        eprintln!("warning: writing {}: {e}", args.result_file.display());
    }
    Ok(match result.reason {
        RestoreReason::Fetched => ExitCode::SUCCESS,
        RestoreReason::Verified => ExitCode::from(fetch::AWAITING_CLEARANCE),
        _ => ExitCode::FAILURE,
    })
}

fn backup(command: cli::BackupCommand) -> anyhow::Result<ExitCode> {
    use canton_operator::backup::commands;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
            cli::BackupCommand::Identities(args) => Ok(backup_identities(args).await),
            cli::BackupCommand::List {
                at,
                validator,
                namespace,
                participant_identifier,
                output,
            } => {
                let namespace = commands::namespace(namespace)?;
                let (dest, store) = commands::open(&at.destination, &connect(&at)).await?;
                let rows = commands::list(
                    &dest,
                    &store,
                    &namespace,
                    &validator,
                    participant_identifier.as_deref(),
                )
                .await?;
                match output {
                    cli::OutputFormat::Text => emit(commands::to_table(&rows))?,
                    cli::OutputFormat::Json => {
                        emit(format_args!("{}\n", serde_json::to_string_pretty(&rows)?))?
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            cli::BackupCommand::Fetch {
                at,
                object,
                validator,
                namespace,
                participant_identifier,
                output,
                ..
            } => {
                let (dest, store) = commands::open(&at.destination, &connect(&at)).await?;
                let (name, bytes) = commands::fetch(
                    &dest,
                    &store,
                    object,
                    validator.as_deref(),
                    namespace,
                    participant_identifier.as_deref(),
                )
                .await?;
                std::fs::write(&output, &bytes)
                    .with_context(|| format!("writing {}", output.display()))?;
                eprintln!(
                    "fetched {name} ({} bytes) to {}",
                    bytes.len(),
                    output.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            cli::BackupCommand::Verify {
                file,
                participant_identifier,
            } => backup_verify(&read_bytes(&file)?, &participant_identifier),
        }
    })
}

fn connect(at: &cli::DestinationArgs) -> canton_operator::backup::store::Connect {
    canton_operator::backup::store::Connect {
        region: at.region.clone(),
        endpoint: at.endpoint.clone(),
    }
}

/// The CronJob's run: the result line goes to the result file and standard output, whatever happens.
async fn backup_identities(args: cli::IdentitiesArgs) -> ExitCode {
    use canton_operator::backup::{commands, run, store};
    let credentials = commands::credentials(
        args.auth_url,
        args.client_id,
        args.client_secret,
        args.audience,
        args.scope,
    );
    let namespace = commands::namespace(args.namespace.clone());
    let destination = store::Destination::parse(&args.at.destination);
    let result = match (namespace, destination) {
        (Ok(namespace), Ok(destination)) => {
            let spec = run::RunSpec {
                destination,
                connect: connect(&args.at),
                namespace,
                validator: args.validator,
                participant_identifier: args.participant_identifier,
                participant_fingerprint: args.participant_fingerprint,
                validator_app_url: args.validator_app_url,
                keep: args.keep as usize,
                credentials,
            };
            run::run(&spec, chrono::Utc::now()).await
        }
        (Err(e), _) => run::invalid_config(e.to_string()),
        (_, Err(e)) => run::invalid_config(e.to_string()),
    };
    let line = result.to_line();
    // The result file below is what counts; a closed standard output must not stop it.
    if let Err(e) = emit(format_args!("{line}\n"))
        && !e.is::<StdoutClosed>()
    {
        eprintln!("warning: {e}");
    }
    if let Err(e) = commands::write_result(&args.result_file, &result) {
        eprintln!("warning: {e}");
    }
    if result.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn backup_verify(bytes: &[u8], identifier: &str) -> anyhow::Result<ExitCode> {
    match canton_operator::backup::run::verify_alone(bytes, Some(identifier)) {
        Ok(dump) => {
            emit(format_args!(
                "Verified: {} ({} keys, topology snapshot {} bytes)\n",
                dump.id,
                dump.keys.len(),
                dump.snapshot_len
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(r) => {
            emit(format_args!("{}: {}\n", r.reason.as_str(), r.message))?;
            Ok(ExitCode::FAILURE)
        }
    }
}

fn read_bytes(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Where `keys` connects, from its flags.
struct KeysTarget {
    address: Option<String>,
    ca_file: Option<std::path::PathBuf>,
    server_name: Option<String>,
}

fn keys(
    validator: &str,
    namespace: Option<String>,
    flags: KeysTarget,
    output: cli::OutputFormat,
) -> anyhow::Result<ExitCode> {
    use canton_operator::rotation::admin::{AdminTarget, Timeouts, TlsTarget};
    use canton_operator::rotation::{keys, reconcile::default_target};
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let rows = runtime.block_on(async {
        let target = match (flags.address, flags.ca_file) {
            (Some(address), None) => AdminTarget::plaintext(&address),
            (Some(address), Some(ca)) => AdminTarget {
                uri: format!("https://{address}"),
                tls: Some(TlsTarget {
                    ca_pem: None,
                    ca_file: Some(ca),
                    server_name: flags.server_name,
                }),
            },
            (None, _) => {
                let client = kube::Client::try_default()
                    .await
                    .context("connecting to the cluster")?;
                let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
                let api: kube::Api<canton_operator::api::Validator> =
                    kube::Api::namespaced(client, &namespace);
                let v = api
                    .get(validator)
                    .await
                    .with_context(|| format!("reading Validator {namespace}/{validator}"))?;
                default_target(&v)?
            }
        };
        anyhow::Ok(keys::list(&target, Timeouts::default()).await?)
    })?;
    match output {
        cli::OutputFormat::Text => emit(keys::to_table(&rows))?,
        cli::OutputFormat::Json => {
            emit(format_args!("{}\n", serde_json::to_string_pretty(&rows)?))?
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &std::path::Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn check_config() -> anyhow::Result<ExitCode> {
    let config = OperatorConfig::from_env();
    if config.errors().is_empty() {
        emit(format_args!("{}\n", config.summary()))?;
        Ok(ExitCode::SUCCESS)
    } else {
        for e in config.errors() {
            eprintln!("error: {e}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn run(args: cli::RunArgs) -> anyhow::Result<ExitCode> {
    canton_operator::telemetry::init(args.log_format == cli::LogFormat::Json);
    let identity = match args.identity {
        Some(id) => id,
        None => hostname()?,
    };
    let settings = operator::RunSettings {
        namespace: args.namespace,
        metrics_addr: args.metrics_addr,
        lease_namespace: args
            .lease_namespace
            .context("the Lease namespace is unknown: set POD_NAMESPACE (the chart does) or pass --lease-namespace")?,
        lease_name: args.lease_name,
        identity,
        concurrency: args.concurrency,
        debounce: std::time::Duration::from_millis(args.debounce_ms),
        max_concurrent_rollouts: args.max_concurrent_rollouts,
        minimum_release: args.minimum_release,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(operator::run(settings))?;
    Ok(ExitCode::SUCCESS)
}

fn verify(
    validator: &str,
    namespace: Option<String>,
    output: cli::OutputFormat,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster")?;
        let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
        anyhow::Ok(canton_operator::verify::verify(client, &namespace, validator).await?)
    })?;
    match output {
        cli::OutputFormat::Text => emit(report.to_text())?,
        cli::OutputFormat::Json => {
            emit(format_args!("{}\n", serde_json::to_string_pretty(&report)?))?
        }
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `releases below`: the Validators of a file or a cluster below `release`; exit 1 if any.
fn releases_below(
    release: canton_operator::release::Version,
    file: Option<std::path::PathBuf>,
    namespace: Option<String>,
    all_namespaces: bool,
    output: cli::OutputFormat,
) -> anyhow::Result<ExitCode> {
    use canton_operator::minimum_release::{below, in_cluster, table};
    let fleet = match file {
        Some(file) => manifest::validator_releases(&read_input(&file)?)?,
        None => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async {
                let client = kube::Client::try_default()
                    .await
                    .context("connecting to the cluster")?;
                let namespace = match (all_namespaces, namespace) {
                    (true, _) => None,
                    (false, Some(ns)) => Some(ns),
                    (false, None) => Some(client.default_namespace().to_string()),
                };
                anyhow::Ok(
                    in_cluster(client, namespace.as_deref())
                        .await
                        .context("listing Validators")?,
                )
            })?
        }
    };
    let found = below(&fleet, release);
    match output {
        cli::OutputFormat::Text => {
            print!("{}", table(&found));
            eprintln!(
                "{} of {} Validators below {release}",
                found.len(),
                fleet.len()
            );
        }
        cli::OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    Ok(if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn hostname() -> anyhow::Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .context("no replica identity: set POD_NAME or pass --identity")?;
    Ok(name.trim().to_string())
}
