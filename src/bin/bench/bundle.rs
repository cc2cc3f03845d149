//! Benchmark 5, client bundle: the release build's `target/site/pkg` files, raw, gzip (`gzip -9`) and
//! brotli (`brotli -q 11`), as a server or CDN would send them compressed.

use serde::Serialize;
use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct FileSize {
    pub file: String,
    pub raw: u64,
    pub gzip: u64,
    pub brotli: u64,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct BundleResult {
    pub files: Vec<FileSize>,
    /// When the WASM was built (file modification time, UTC).
    pub wasm_built: String,
}

impl BundleResult {
    /// The `.wasm` file's sizes.
    pub fn wasm(&self) -> Option<&FileSize> {
        self.files.iter().find(|f| f.file.ends_with(".wasm"))
    }
}

/// Bytes of `data` compressed by `program args…` (reads stdin, writes stdout).
fn compressed_len(program: &str, args: &[&str], data: &[u8]) -> Result<u64, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e} (install it: `scripts/setup.sh --bench`)"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| format!("{program}: {e}"))?;
    writer.join().map_err(|_| "writer panicked")?.map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{program} failed"));
    }
    Ok(out.stdout.len() as u64)
}

/// Measures `<site>/pkg/*.{wasm,js,css}`.
pub fn run(site_root: &str) -> Result<BundleResult, String> {
    let dir = format!("{site_root}/pkg");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{dir}: {e} (build the release first: cargo leptos build --release)"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wasm") || n.ends_with(".js") || n.ends_with(".css"))
        .collect();
    names.sort_by_key(|n| (!n.ends_with(".wasm"), !n.ends_with(".js"), n.clone()));
    let mut files = Vec::new();
    let mut wasm_built = String::new();
    for name in names {
        let path = format!("{dir}/{name}");
        let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        if name.ends_with(".wasm") {
            wasm_built = modified_utc(&path);
        }
        files.push(FileSize {
            raw: data.len() as u64,
            gzip: compressed_len("gzip", &["-9", "-c"], &data)?,
            brotli: compressed_len("brotli", &["-q", "11", "-c"], &data)?,
            file: format!("pkg/{name}"),
        });
    }
    if !files.iter().any(|f| f.file.ends_with(".wasm")) {
        return Err(format!("no .wasm in {dir}"));
    }
    for f in &files {
        eprintln!("bundle: {:<18} raw {:>9}  gzip {:>8}  brotli {:>8}", f.file, f.raw, f.gzip, f.brotli);
    }
    Ok(BundleResult { files, wasm_built })
}

fn modified_utc(path: &str) -> String {
    let out = Command::new("date").args(["-u", "-r", path, "+%Y-%m-%dT%H:%M:%SZ"]).output();
    out.ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}
