//! Entry point: parse the command line and call into the library.

mod cli;

use std::io::Read;
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Crd { reference } => {
            if reference {
                print!("{}", canton_operator::reference::markdown());
            } else {
                print!("{}", manifest::crd_yaml()?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Render { file } => {
            let text = read_input(&file)?;
            let config = OperatorConfig::from_env();
            print!("{}", manifest::render_yaml(&text, &config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => Ok(check_config()),
        Command::IamPolicy {
            file,
            account_id,
            oidc_provider,
        } => {
            let text = read_input(&file)?;
            let facts = canton_operator::iam::ClusterFacts {
                aws_account_id: account_id,
                oidc_provider,
            };
            println!(
                "{}",
                manifest::iam_policy_json(&text, &OperatorConfig::from_env(), &facts)?
            );
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
    }
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
        cli::OutputFormat::Text => print!("{}", keys::to_table(&rows)),
        cli::OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
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

fn check_config() -> ExitCode {
    let config = OperatorConfig::from_env();
    if config.errors().is_empty() {
        println!("{}", config.summary());
        ExitCode::SUCCESS
    } else {
        for e in config.errors() {
            eprintln!("error: {e}");
        }
        ExitCode::FAILURE
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
        cli::OutputFormat::Text => print!("{}", report.to_text()),
        cli::OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.passed {
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
