//! HTTPS and WSS served by the server itself (`--tls-cert` + `--tls-key`): checking the two flags, loading the
//! PEM certificate chain and private key into a rustls configuration (aws-lc-rs provider, TLS 1.2 and 1.3,
//! ALPN `http/1.1`), and the TLS listener that `axum::serve` accepts connections from.
//!
//! Handshakes run concurrently (tls-listener) with a timeout, so a slow or silent client never holds up the
//! accept loop; a failed handshake (e.g. a plain `http://` client on the TLS port) only drops that connection.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long a client may take to finish the TLS handshake before its connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up. Each message is one line and names the flag or the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `--tls-cert` without `--tls-key`.
    #[error("--tls-cert (ONAIR_TLS_CERT) is set but --tls-key (ONAIR_TLS_KEY) is not: give both PEM files or neither")]
    MissingKey,
    /// `--tls-key` without `--tls-cert`.
    #[error("--tls-key (ONAIR_TLS_KEY) is set but --tls-cert (ONAIR_TLS_CERT) is not: give both PEM files or neither")]
    MissingCert,
    /// A file could not be read (missing, no permission, a directory).
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM `CERTIFICATE` block, or a broken one.
    #[error("the TLS certificate file {} holds no PEM certificate ({reason})", path.display())]
    BadCert {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The key file holds no PEM private key, or a broken one.
    #[error("the TLS key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1) ({reason})", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The key is not the private key of the certificate's public key.
    #[error("the TLS key file {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the pair for another reason (e.g. an unsupported key type).
    #[error("the TLS certificate {} with the key {} cannot be used: {reason}", cert.display(), key.display())]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// The certificate and key files of an HTTPS server, both given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
}

impl TlsFiles {
    /// `Ok(None)` when neither flag is given (plain HTTP), `Ok(Some)` when both are, and
    /// [`TlsError::MissingKey`] / [`TlsError::MissingCert`] when only one is. Reads nothing.
    pub fn from_flags(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<Self>, TlsError> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Self { cert: cert.to_path_buf(), key: key.to_path_buf() })),
            (Some(_), None) => Err(TlsError::MissingKey),
            (None, Some(_)) => Err(TlsError::MissingCert),
        }
    }

    /// Reads both files and builds the server's rustls configuration (aws-lc-rs, TLS 1.2 + 1.3, no client
    /// certificates, ALPN `http/1.1`). Errors name the file: unreadable, no PEM certificate / key in it, or a
    /// key that is not the certificate's.
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.into(), source })
        };
        let cert_pem = read("certificate", &self.cert)?;
        let key_pem = read("key", &self.key)?;

        let bad_cert = |reason: String| TlsError::BadCert { path: self.cert.clone(), reason };
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_cert(e.to_string()))?;
        if chain.is_empty() {
            return Err(bad_cert("no BEGIN CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| TlsError::BadKey { path: self.key.clone(), reason: e.to_string() })?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let unusable = |e: rustls::Error| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::Mismatch { cert: self.cert.clone(), key: self.key.clone() }
            }
            other => TlsError::Unusable { cert: self.cert.clone(), key: self.key.clone(), reason: other.to_string() },
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(unusable)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(unusable)?;
        // `axum::serve` speaks HTTP/1.1 (WebSocket upgrades included).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A TCP listener whose connections get `TCP_NODELAY` before their TLS handshake (as on the plain path:
/// small WebSocket frames and handshake flights go out at once).
struct NoDelayTcp(TcpListener);

impl tls_listener::AsyncAccept for NoDelayTcp {
    type Connection = TcpStream;
    type Address = SocketAddr;
    type Error = std::io::Error;

    fn poll_accept(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(TcpStream, SocketAddr), std::io::Error>> {
        let accepted = self.get_mut().0.poll_accept(cx);
        if let Poll::Ready(Ok((tcp, _))) = &accepted {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(%e, "could not set TCP_NODELAY");
            }
        }
        accepted
    }
}

/// The TLS side of the server: an [`axum::serve::Listener`] that yields connections whose TLS handshake has
/// finished, with the client's address (for `ConnectInfo<SocketAddr>`).
pub struct TlsListener {
    inner: tls_listener::TlsListener<NoDelayTcp, tls_listener::rustls::TlsAcceptor>,
    local: SocketAddr,
}

impl TlsListener {
    /// Wraps a bound TCP listener; handshakes use `config` and [`HANDSHAKE_TIMEOUT`].
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let inner = tls_listener::builder(tls_listener::rustls::TlsAcceptor::from(config))
            .handshake_timeout(HANDSHAKE_TIMEOUT)
            .listen(NoDelayTcp(tcp));
        Ok(Self { inner, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tls_listener::rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok(accepted) => return accepted,
                // A client that is not speaking TLS, or gave up: only its connection is affected.
                Err(tls_listener::Error::TlsAcceptError { error, peer_addr, .. }) => {
                    tracing::debug!(%peer_addr, %error, "TLS handshake failed");
                }
                Err(tls_listener::Error::HandshakeTimeout { peer_addr, .. }) => {
                    tracing::debug!(%peer_addr, "TLS handshake timed out");
                }
                // As `axum::serve` does for plain TCP: a reset before accept is harmless; anything else (e.g.
                // out of file descriptors) is logged and retried after a second.
                Err(tls_listener::Error::ListenerError(e)) => {
                    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
                    if !matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
                        tracing::error!(%e, "accept error");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Err(e) => tracing::debug!(%e, "TLS accept error"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temp dir for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("onair-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A self-signed certificate for localhost: (cert PEM, key PEM).
    fn self_signed() -> (String, String) {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        (cert.pem(), signing_key.serialize_pem())
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn both_flags_or_neither() {
        let (c, k) = (Path::new("c.pem"), Path::new("k.pem"));
        assert_eq!(TlsFiles::from_flags(None, None).unwrap(), None);
        assert_eq!(TlsFiles::from_flags(Some(c), Some(k)).unwrap(), Some(TlsFiles { cert: c.into(), key: k.into() }));
        let only_cert = TlsFiles::from_flags(Some(c), None).unwrap_err();
        assert!(matches!(only_cert, TlsError::MissingKey));
        assert!(only_cert.to_string().contains("--tls-key"), "{only_cert}");
        let only_key = TlsFiles::from_flags(None, Some(k)).unwrap_err();
        assert!(matches!(only_key, TlsError::MissingCert));
        assert!(only_key.to_string().contains("--tls-cert"), "{only_key}");
    }

    #[test]
    fn loads_a_matching_pair() {
        let dir = scratch("ok");
        let (cert, key) = self_signed();
        let files = TlsFiles { cert: write(&dir, "cert.pem", &cert), key: write(&dir, "key.pem", &key) };
        let config = files.load().expect("a matching pair loads");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = scratch("bad");
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let cert_file = write(&dir, "cert.pem", &cert);
        let key_file = write(&dir, "key.pem", &key);
        let missing = dir.join("missing.pem");
        let garbage = write(&dir, "garbage.pem", "not a pem file\n");
        let other_key_file = write(&dir, "other-key.pem", &other_key);

        // (files, the error expected, the file its message must name)
        let cases = [
            ((&missing, &key_file), "Read certificate", &missing),
            ((&cert_file, &missing), "Read key", &missing),
            ((&garbage, &key_file), "BadCert", &garbage),
            // The certificate's PEM is no key.
            ((&cert_file, &cert_file), "BadKey", &cert_file),
            ((&cert_file, &other_key_file), "Mismatch", &other_key_file),
        ];
        for ((cert, key), expected, named) in cases {
            let err = TlsFiles { cert: cert.clone(), key: key.clone() }.load().unwrap_err();
            let kind = match &err {
                TlsError::Read { what, .. } => format!("Read {what}"),
                TlsError::BadCert { .. } => "BadCert".into(),
                TlsError::BadKey { .. } => "BadKey".into(),
                TlsError::Mismatch { .. } => "Mismatch".into(),
                other => format!("{other:?}"),
            };
            assert_eq!(kind, expected, "{err}");
            let message = err.to_string();
            assert!(message.contains(&named.display().to_string()), "names {}: {message}", named.display());
            assert!(!message.contains('\n'), "one line: {message}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
