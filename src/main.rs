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
        Command::Crd => {
            print!("{}", manifest::crd_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Render { file } => {
            let text = read_input(&file)?;
            let config = OperatorConfig::from_env();
            print!("{}", manifest::render_yaml(&text, &config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => Ok(check_config()),
        Command::Run(args) => run(args),
    }
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
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(operator::run(settings))?;
    Ok(ExitCode::SUCCESS)
}

fn hostname() -> anyhow::Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .context("no replica identity: set POD_NAME or pass --identity")?;
    Ok(name.trim().to_string())
}
