//! The server under test: a fresh database (`scripts/ensure-db.sh --fresh`), the release binary pinned to
//! its own CPU, readiness, RSS, and bench accounts with sessions.

use crate::http;
use crate::Opts;
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Password of every bench account.
pub const PASSWORD: &str = "bench-password";

/// A running `target/release/onair` with its own database; stopped (SIGTERM, then SIGKILL) on drop.
pub struct ServerUnderTest {
    pub addr: SocketAddr,
    pub database_url: String,
    pub pid: u32,
    child: Child,
    pub log: PathBuf,
}

/// Creates (or re-creates) database `name` and returns its URL.
pub fn fresh_database(name: &str) -> Result<String, String> {
    let out = Command::new("scripts/ensure-db.sh")
        .args(["--fresh", name])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("scripts/ensure-db.sh: {e} (run the bench from the repository root)"))?;
    if !out.status.success() {
        return Err(format!("scripts/ensure-db.sh --fresh {name} failed"));
    }
    let url = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_string();
    if url.is_empty() {
        return Err("scripts/ensure-db.sh printed no URL".into());
    }
    Ok(url)
}

impl ServerUnderTest {
    /// Starts the release server on `opts.port` over a fresh database `onair_bench_<name>`, pinned to
    /// `opts.server_cpu` when set, and waits until `/healthz` answers (at most 60 s).
    pub async fn start(opts: &Opts, name: &str) -> Result<Self, String> {
        let database_url = fresh_database(&format!("onair_bench_{name}"))?;
        let addr: SocketAddr = format!("127.0.0.1:{}", opts.port).parse().map_err(|e| format!("{e}"))?;
        std::fs::create_dir_all("target/bench").map_err(|e| e.to_string())?;
        let log = PathBuf::from(format!("target/bench/server-{name}.log"));
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = match opts.server_cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string(), &opts.server_bin]);
                c
            }
            None => Command::new(&opts.server_bin),
        };
        cmd.args(["--bind", &addr.to_string(), "--database-url", &database_url])
            // Bench users log in many times from one address and one user posts all the chat.
            .args(["--login-attempts-per-minute", "100000000", "--chat-messages-per-5s", "100000000"])
            .args(["--site-root", "target/site"])
            .env("RUST_LOG", "warn")
            .env_remove("ONAIR_DEMO")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file);
        let child = cmd.spawn().map_err(|e| format!("starting {}: {e}", opts.server_bin))?;
        let pid = child.id();
        let server = Self { addr, database_url, pid, child, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http::get(addr, "/healthz").await.is_ok_and(|r| r.status == 200) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not answer /healthz within 60 s; see {}", server.log.display()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server process's resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> Result<u64, String> {
        rss_kib(self.pid)
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    parse_vm_rss(&status).ok_or_else(|| "no VmRSS line".into())
}

/// The `VmRSS:` value (KiB) of a `/proc/<pid>/status` text.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Drop for ServerUnderTest {
    fn drop(&mut self) {
        // Only the process this tool started, by its id.
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An argon2id hash of [`PASSWORD`] with the smallest parameters (8 KiB, 1 pass): bench accounts are made
/// with it directly in the database so that 1000s of log-ins take seconds, not minutes. The server verifies
/// any argon2id PHC string with the parameters it names, so nothing in the server changes for this.
fn cheap_hash() -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).expect("valid argon2 params");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"onair-bench-salt").expect("salt");
    argon.hash_password(PASSWORD.as_bytes(), &salt).expect("hash").to_string()
}

/// Inserts `count` accounts `<prefix>1 … <prefix><count>` (password [`PASSWORD`]) into the server's
/// database and returns their usernames.
pub async fn create_users(database_url: &str, prefix: &str, count: usize) -> Result<Vec<String>, String> {
    let pool = sqlx::PgPool::connect(database_url).await.map_err(|e| format!("database: {e}"))?;
    let hash = cheap_hash();
    sqlx::query!(
        "INSERT INTO users (id, username, display_name, password_hash)
         SELECT gen_random_uuid(), $1 || n::text, 'Bench ' || n::text, $2
         FROM generate_series(1, $3::int) AS n",
        prefix,
        hash,
        count as i32
    )
    .execute(&pool)
    .await
    .map_err(|e| format!("inserting bench users: {e}"))?;
    pool.close().await;
    Ok((1..=count).map(|n| format!("{prefix}{n}")).collect())
}

/// Logs every user in over HTTP (`/api/login`), `concurrency` at a time; returns their session cookies
/// (`onair_session=…`) in the same order.
pub async fn log_in_all(addr: SocketAddr, usernames: &[String], concurrency: usize) -> Result<Vec<String>, String> {
    let results: Vec<Result<String, String>> = futures_util::stream::iter(usernames.iter().cloned())
        .map(|u| async move { log_in(addr, &u).await })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Logs one user in; returns the session cookie.
pub async fn log_in(addr: SocketAddr, username: &str) -> Result<String, String> {
    let body = http::form(&[("username", username), ("password", PASSWORD)]);
    let res = http::post_form(addr, "/api/login", &body, None).await?;
    if res.status != 200 {
        return Err(format!("login {username}: HTTP {} {}", res.status, res.text()));
    }
    res.cookie("onair_session").ok_or_else(|| format!("login {username}: no session cookie"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tonair\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn the_cheap_hash_verifies_with_the_servers_checker() {
        let hash = cheap_hash();
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{hash}");
        assert!(password_auth::verify_password(PASSWORD, &hash).is_ok());
        assert!(password_auth::verify_password("wrong", &hash).is_err());
    }
}
