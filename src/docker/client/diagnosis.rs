//! Why an engine did not answer: a [`PingFailure`] read from the error
//! itself (its variant, and the io and rustls errors in its source chain,
//! never its message text), each naming the fix.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;

use bollard::ClientVersion;
use serde::Serialize;

use crate::docker::client::endpoint::Endpoint;

/// Why an endpoint did not answer. Display is one sentence with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum PingFailure {
    #[error("no socket at {path}: mount the host's socket (-v /var/run/docker.sock:/var/run/docker.sock) or point DOCKER_HOST elsewhere")]
    SocketMissing { path: PathBuf },
    #[error("{path} exists but is not a unix socket (a directory is what `-v` creates when the host path did not exist): fix the mount source")]
    NotASocket { path: PathBuf },
    /// A unix socket file with nothing accepting on it: the engine is not
    /// running (yet), or the file is a stale one an engine left behind.
    #[error("connection refused on {path}: the socket file is there but no engine accepts on it; check that the engine is running (it may still be starting), that {path} is its socket (DOCKER_HOST, or the host path of the -v mount), and whether the file is a stale socket left by an engine that stopped (remove it, or restart that engine)")]
    SocketRefused { path: PathBuf },
    #[error("permission denied on {address}: berth's user cannot use the socket; run berth as root so it can fix the group, or add the user to the socket's group")]
    PermissionDenied { address: String },
    #[error("cannot resolve {host}: {detail}; check the host name in DOCKER_HOST/context and the container's DNS")]
    Dns { host: String, detail: String },
    #[error("connection refused by {address}: nothing listens there; check the port (2376 for TLS, 2375 plain) and that dockerd runs with -H tcp://0.0.0.0:PORT")]
    Refused { address: String },
    #[error("{address} did not answer within {after_ms} ms: check firewalls/security groups and that the address is right")]
    Timeout { address: String, after_ms: u64 },
    #[error("TLS files missing: {}; set DOCKER_CERT_PATH to the directory with ca.pem, cert.pem, key.pem (or wait for the sidecar that writes them)", display_paths(missing))]
    MissingCertFiles { missing: Vec<PathBuf> },
    #[error("cannot use TLS file {path}: {detail}; regenerate or re-copy it")]
    CertUnreadable { path: PathBuf, detail: String },
    #[error("the engine's certificate is not signed by the CA in ca.pem ({detail}): copy the engine's CA into DOCKER_CERT_PATH")]
    TlsUnknownCa { detail: String },
    #[error("the engine's certificate does not name {host}: connect with a name in its SANs, or reissue the server certificate with this name (an engine berth runs: set DOCKER_TLS_SAN=\"{}\" on its container and restart it; docker:dind reads the same variable)", san_for(.host))]
    TlsWrongName { host: String },
    #[error(
        "a certificate is expired or not yet valid ({detail}): reissue it, and check the clock"
    )]
    TlsExpired { detail: String },
    #[error("the engine rejected berth's client certificate (alert {alert}): use cert.pem/key.pem issued by the engine's CA")]
    TlsClientCertRejected { alert: String },
    #[error("TLS handshake failed because the engine speaks plain HTTP: unset DOCKER_TLS_VERIFY or use the engine's TLS port")]
    TlsToPlainServer,
    #[error("TLS handshake failed: {detail}")]
    TlsHandshake { detail: String },
    #[error("the engine answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("ssh to {url} failed: {detail}; check `ssh {url}` works non-interactively (keys, known_hosts) and that docker is on the remote PATH")]
    Ssh { url: String, detail: String },
    /// A tool the `ssh://` path needs is not installed in the image.
    #[error("{url} is reached through the docker CLI and ssh, and {tool} is not on PATH: install {package} in the image")]
    MissingTool {
        url: String,
        tool: &'static str,
        package: &'static str,
    },
    #[error("transport error talking to {address}: {detail}")]
    Transport { address: String, detail: String },
}

/// The DOCKER_TLS_SAN entry naming `host`: `IP:` for an address, else `DNS:`.
fn san_for(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(_) => format!("IP:{bare}"),
        Err(_) => format!("DNS:{bare}"),
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl PingFailure {
    /// Failures that may clear up within the budget: an engine starting,
    /// certs being written, a compose service not yet in DNS.
    pub fn is_retryable(&self) -> bool {
        match self {
            PingFailure::SocketMissing { .. }
            | PingFailure::SocketRefused { .. }
            | PingFailure::Dns { .. }
            | PingFailure::Refused { .. }
            | PingFailure::Timeout { .. }
            | PingFailure::MissingCertFiles { .. }
            | PingFailure::CertUnreadable { .. }
            | PingFailure::Transport { .. } => true,
            PingFailure::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Extracts X.Y from dockerd's "... Maximum supported API version is X.Y"
/// or "... Minimum supported API version is X.Y" (api/server/middleware/version.go).
pub fn supported_api_version(message: &str) -> Option<ClientVersion> {
    let (_, rest) = message.split_once("supported API version is ")?;
    let version = rest
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let (major, minor) = version.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// Turns a bollard error into a diagnosis by variant and by the io/rustls
/// errors in its source chain (never by matching message text).
pub fn classify(err: &bollard::errors::Error, endpoint: &Endpoint) -> PingFailure {
    use bollard::errors::Error as B;
    let address = endpoint.url();
    match err {
        B::DockerResponseServerError {
            status_code,
            message,
        } => PingFailure::Http {
            status: *status_code,
            message: message.clone(),
        },
        B::RequestTimeoutError => PingFailure::Timeout {
            address,
            after_ms: 0,
        },
        B::CertPathError { path }
        | B::CertParseError { path }
        | B::CertMultipleKeys { path, .. } => PingFailure::CertUnreadable {
            path: path.clone(),
            detail: err.to_string(),
        },
        B::SocketNotFoundError(path) => PingFailure::SocketMissing {
            path: PathBuf::from(path),
        },
        // These are `#[error(transparent)]`: their source() skips the wrapped
        // error itself, so the walk has to start at the wrapped error.
        B::IOError { err } => classify_chain(err, endpoint),
        B::HyperLegacyError { err } => classify_chain(err, endpoint),
        _ => classify_chain(err, endpoint),
    }
}

fn classify_chain(err: &(dyn StdError + 'static), endpoint: &Endpoint) -> PingFailure {
    let address = endpoint.url();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return classify_tls(tls, endpoint);
        }
        current = match e.downcast_ref::<io::Error>() {
            Some(io_err) => {
                match io_err.kind() {
                    // The port hint of `Refused` means nothing for a socket file.
                    io::ErrorKind::ConnectionRefused => {
                        return match endpoint {
                            Endpoint::Unix { path } => {
                                PingFailure::SocketRefused { path: path.clone() }
                            }
                            _ => PingFailure::Refused { address },
                        }
                    }
                    io::ErrorKind::TimedOut => {
                        return PingFailure::Timeout {
                            address,
                            after_ms: 0,
                        }
                    }
                    io::ErrorKind::PermissionDenied => {
                        return PingFailure::PermissionDenied { address }
                    }
                    _ => {}
                }
                // io::Error::source() skips the error it wraps (hyper-rustls
                // wraps tokio-rustls' io::Error in another one), so descend
                // through get_ref() instead.
                io_err
                    .get_ref()
                    .map(|inner| inner as &(dyn StdError + 'static))
            }
            None => e.source(),
        };
    }
    PingFailure::Transport {
        address,
        detail: error_chain(err),
    }
}

fn classify_tls(err: &rustls::Error, endpoint: &Endpoint) -> PingFailure {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => PingFailure::TlsUnknownCa {
            detail: err.to_string(),
        },
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            PingFailure::TlsWrongName {
                host: match endpoint {
                    Endpoint::Tcp { host, .. } => host.clone(),
                    _ => endpoint.url(),
                },
            }
        }
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => PingFailure::TlsExpired {
            detail: err.to_string(),
        },
        E::AlertReceived(
            alert @ (A::BadCertificate
            | A::UnknownCA
            | A::CertificateRequired
            | A::CertificateUnknown
            | A::CertificateExpired),
        ) => PingFailure::TlsClientCertRejected {
            alert: format!("{alert:?}"),
        },
        E::InvalidMessage(_) => PingFailure::TlsToPlainServer,
        _ => PingFailure::TlsHandshake {
            detail: err.to_string(),
        },
    }
}

fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp() -> Endpoint {
        Endpoint::Tcp {
            host: "docker".into(),
            port: 2376,
            tls: None,
        }
    }

    #[test]
    fn parses_supported_version_from_dockerd_messages() {
        let v = supported_api_version(
            "client version 1.53 is too new. Maximum supported API version is 1.41",
        )
        .expect("parsed");
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        let v = supported_api_version(
            "client version 1.24 is too old. Minimum supported API version is 1.44, please upgrade",
        )
        .expect("parsed");
        assert_eq!((v.major_version, v.minor_version), (1, 44));
        assert!(supported_api_version("page not found").is_none());
    }

    /// A refused unix socket gets advice about the socket (is the engine
    /// running, is this its path, is the file stale), never the TCP port
    /// hint (issue 13).
    #[test]
    fn a_refused_unix_socket_gets_socket_advice() {
        let unix = Endpoint::Unix {
            path: "/var/run/docker.sock".into(),
        };
        let e = bollard::errors::Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let failure = classify(&e, &unix);
        assert_eq!(
            failure,
            PingFailure::SocketRefused {
                path: "/var/run/docker.sock".into()
            }
        );
        assert!(failure.is_retryable());
        let text = failure.to_string();
        for advice in [
            "/var/run/docker.sock",
            "engine is running",
            "its socket",
            "stale socket",
        ] {
            assert!(text.contains(advice), "{advice:?} in {text}");
        }
        assert!(!text.contains("2376") && !text.contains("port"), "{text}");
        // TCP keeps the port hint.
        let tcp = classify(&e, &tcp()).to_string();
        assert!(tcp.contains("2376 for TLS"), "{tcp}");
    }

    #[test]
    fn classifies_io_errors_in_the_chain() {
        let e = bollard::errors::Error::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(matches!(classify(&e, &tcp()), PingFailure::Refused { .. }));
        let e = bollard::errors::Error::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(
            classify(&e, &tcp()),
            PingFailure::PermissionDenied { .. }
        ));
        let e = bollard::errors::Error::from(io::Error::other("weird"));
        assert!(
            matches!(classify(&e, &tcp()), PingFailure::Transport { ref detail, .. } if detail.contains("weird"))
        );
    }

    #[test]
    fn classifies_tls_errors_wrapped_in_io() {
        let wrap = |t: rustls::Error| {
            bollard::errors::Error::from(io::Error::new(io::ErrorKind::InvalidData, t))
        };
        let cases = [
            (
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                "tls_unknown_ca",
            ),
            (
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
                "tls_wrong_name",
            ),
            (
                rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
                "tls_expired",
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::BadCertificate),
                "tls_client_cert_rejected",
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
                "tls_client_cert_rejected",
            ),
            (
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                "tls_to_plain_server",
            ),
            (rustls::Error::DecryptError, "tls_handshake"),
        ];
        for (tls, want) in cases {
            let failure = classify(&wrap(tls), &tcp());
            let json = serde_json::to_value(&failure).expect("serialize");
            assert_eq!(json["failure"], want, "{failure}");
        }
    }

    #[test]
    fn classifies_http_and_cert_errors() {
        let e = bollard::errors::Error::DockerResponseServerError {
            status_code: 503,
            message: "starting".into(),
        };
        let f = classify(&e, &tcp());
        assert!(matches!(f, PingFailure::Http { status: 503, .. }) && f.is_retryable());
        let e = bollard::errors::Error::CertPathError {
            path: "/c/ca.pem".into(),
        };
        assert!(matches!(
            classify(&e, &tcp()),
            PingFailure::CertUnreadable { .. }
        ));
    }

    #[test]
    fn messages_name_the_fix() {
        let f = PingFailure::MissingCertFiles {
            missing: vec!["/certs/ca.pem".into()],
        };
        assert!(f.to_string().contains("DOCKER_CERT_PATH"));
        assert!(f.to_string().contains("/certs/ca.pem"));
        let f = PingFailure::Refused {
            address: "tcp://d:2376".into(),
        };
        assert!(f.to_string().contains("tcp://d:2376"));
    }
}
