//! The `onair` server binary: reads configuration, starts logging, serves until SIGINT/SIGTERM.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = onair::server::config::Config::from_env_and_args();
    onair::server::init_tracing(&config.log_format);
    match onair::server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            eprintln!("onair: {e}");
            ExitCode::FAILURE
        }
    }
}
