//! `bedrock-lb`: serve, submit, jobs, init-aws, bench. Parses the command line and hands over to the
//! library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    bedrock_lb::init_tracing();
    let cli = bedrock_lb::cli::Cli::parse();
    match bedrock_lb::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
