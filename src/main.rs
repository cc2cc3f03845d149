//! The `onair` server binary: reads configuration, starts logging, serves until SIGINT/SIGTERM.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: server-rendered pages and the signaling hub allocate many
/// small short-lived objects, and glibc's malloc was about a fifth of the CPU in profiles (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
