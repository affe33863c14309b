//! Entry point: parse the command line and call into the library.

mod cli;

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context as _;
use canton_operator::config::OperatorConfig;
use canton_operator::manifest;
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

fn run(_args: cli::RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
