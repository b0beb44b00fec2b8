//! TLS material for a dockerd that listens on TCP (DESIGN invariant 8),
//! laid out exactly like docker:dind's `DOCKER_TLS_CERTDIR`:
//!
//! ```text
//! <certdir>/ca/{cert.pem,key.pem}              0700 dir: the CA key can mint client certs
//! <certdir>/server/{ca.pem,cert.pem,key.pem}   for dockerd --tlsverify
//! <certdir>/client/{ca.pem,cert.pem,key.pem}   the only dir to share (DOCKER_CERT_PATH)
//! ```
//!
//! Keys are ECDSA P-256: generating one takes well under a millisecond, where
//! docker's dind entrypoint spends seconds on RSA-4096 at every first start.
//!
//! Reuse decisions read the certificates themselves, with rustls-webpki (the
//! verifier rustls already links): berth's CA is the one named
//! [`CA_CN`](self) whose key sits next to it; a leaf is berth's when that CA
//! name issued it. berth's own files are reissued when they no longer chain
//! to the CA, expire within [`RENEW_BEFORE_DAYS`], or (the server's) are not
//! valid for every name and address the server must answer to; anything
//! else in the certdir was put there by someone else and is used as it is,
//! never overwritten.
//!
//! Checked by hand on this machine: dockerd 20.10.24 started with
//! [`DaemonTlsPaths::dockerd_flags`] served `docker version` to the docker
//! CLI given only `DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=<certdir>/client`
//! (via 127.0.0.1 and `localhost`), and refused a client without the cert.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;

use crate::host::syscall::Syscall;

/// Validity of server and client certificates (docker:dind uses 825 days too).
pub const LEAF_VALIDITY_DAYS: u64 = 825;
/// Validity of berth's CA.
pub const CA_VALIDITY_DAYS: u64 = 3650;
/// Reissue a certificate when less than this remains.
pub const RENEW_BEFORE_DAYS: u64 = 30;
/// Backdate `not_before` so a peer whose clock lags a little accepts the cert.
const BACKDATE: Duration = Duration::from_secs(3600);
const DAY: u64 = 86_400;

const CA_CN: &str = "berth docker CA";
const SERVER_CN: &str = "berth docker server";
const CLIENT_CN: &str = "berth docker client";

/// Errors while preparing TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot chown {path} to {uid}:{gid}: {source}")]
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: nix::errno::Errno,
    },
    #[error("cannot generate or sign the {what}: {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("cannot load berth's CA key {path}: {source}")]
    LoadCaKey { path: PathBuf, source: rcgen::Error },
    #[error(
        "{dir} holds a user-provided CA (not berth's, or without its key) but the {part} certificate is \
         missing: berth does not sign with a CA it did not create; add {part}/cert.pem, \
         key.pem and ca.pem, or remove {dir}/ca to let berth generate everything"
    )]
    UserCaCannotSign { dir: PathBuf, part: &'static str },
    #[error("{path} exists but {missing} is missing next to it; complete or remove the set")]
    Incomplete { path: PathBuf, missing: PathBuf },
}

/// What should be in the certificates.
#[derive(Debug, Clone)]
pub struct TlsRequest {
    /// `DOCKER_TLS_CERTDIR`.
    pub certdir: PathBuf,
    /// The container's hostname, a DNS SAN of the server certificate.
    pub hostname: String,
    /// The container's addresses (see [`host_ip_addresses`]); 127.0.0.1 and
    /// ::1 are always added.
    pub ip_addresses: Vec<IpAddr>,
    /// More SANs, like dind's `DOCKER_TLS_SAN`: names, addresses, or either
    /// with a `DNS:`/`IP:` prefix. `localhost` and `docker` are always added.
    pub extra_sans: Vec<String>,
    /// chown the client dir and its files to this uid:gid, so the user who
    /// runs `docker` can read the client key.
    pub client_owner: Option<(u32, u32)>,
    /// The current time (injected so tests can age certificates).
    pub now: SystemTime,
}

/// What happened to one of ca/server/client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "reason")]
pub enum PartAction {
    /// Written now, nothing was there.
    Generated,
    /// Written now, replacing berth's own earlier files for this reason.
    Reissued(String),
    /// berth's own earlier files, still valid.
    Reused,
    /// Files berth did not write: used as they are.
    UserProvided,
}

/// The files dockerd needs for `--tlsverify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonTlsPaths {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl DaemonTlsPaths {
    /// `--tlsverify --tlscacert <ca> --tlscert <cert> --tlskey <key>`.
    pub fn dockerd_flags(&self) -> Vec<String> {
        vec![
            "--tlsverify".to_owned(),
            format!("--tlscacert={}", self.ca.display()),
            format!("--tlscert={}", self.cert.display()),
            format!("--tlskey={}", self.key.display()),
        ]
    }
}

/// Result of [`ensure_certs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsMaterial {
    pub certdir: PathBuf,
    pub ca: PartAction,
    pub server: PartAction,
    pub client: PartAction,
    pub daemon: DaemonTlsPaths,
    /// `DOCKER_CERT_PATH` for clients: the only directory to share.
    pub client_dir: PathBuf,
}

impl TlsMaterial {
    /// Environment for a docker client talking to `tcp_host`
    /// (e.g. `tcp://docker:2376`).
    pub fn client_env(&self, tcp_host: &str) -> Vec<(String, String)> {
        vec![
            ("DOCKER_HOST".to_owned(), tcp_host.to_owned()),
            ("DOCKER_TLS_VERIFY".to_owned(), "1".to_owned()),
            (
                "DOCKER_CERT_PATH".to_owned(),
                self.client_dir.display().to_string(),
            ),
        ]
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The paths of one part (ca, server, client).
struct PartPaths {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// `ca.pem`, absent for the CA itself.
    ca_copy: Option<PathBuf>,
}

impl PartPaths {
    fn new(certdir: &Path, name: &str) -> Self {
        let dir = certdir.join(name);
        Self {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            ca_copy: (name != "ca").then(|| dir.join("ca.pem")),
            dir,
        }
    }

    /// Errors when the cert exists but a companion file is missing.
    fn check_complete(&self) -> Result<(), TlsError> {
        let companions = std::iter::once(&self.key).chain(self.ca_copy.as_ref());
        for missing in companions {
            if !missing.exists() {
                return Err(TlsError::Incomplete {
                    path: self.cert.clone(),
                    missing: missing.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The SANs of the server certificate for `req`, sorted and deduplicated.
fn server_sans(req: &TlsRequest) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns: BTreeSet<String> = ["localhost", "docker"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if !req.hostname.is_empty() {
        dns.insert(req.hostname.clone());
    }
    let mut ips: BTreeSet<IpAddr> = req.ip_addresses.iter().copied().collect();
    for san in req
        .extra_sans
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        if let Some(name) = san.strip_prefix("DNS:") {
            dns.insert(name.to_owned());
        } else if let Ok(ip) = san.strip_prefix("IP:").unwrap_or(san).parse::<IpAddr>() {
            ips.insert(ip);
        } else {
            dns.insert(san.to_owned());
        }
    }
    ips.insert(IpAddr::from([127, 0, 0, 1]));
    ips.insert(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    (dns.into_iter().collect(), ips.into_iter().collect())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Write `bytes` to `path` atomically (temp file in the same dir, fsync,
/// rename) with exactly `mode`. The temp file is created with `mode`, so a
/// key is never readable by others, not even for an instant; fchmod on the
/// open file then undoes any umask narrowing for public files.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    crate::host::files::write_atomic(path, bytes, mode, None).map_err(|source| TlsError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Create `dir` with `mode` if absent; tighten an existing dir's mode only
/// when it is wider than `mode` (never widen what someone else chose).
fn ensure_dir(dir: &Path, mode: u32) -> Result<(), TlsError> {
    let err = |source| TlsError::CreateDir {
        path: dir.to_owned(),
        source,
    };
    match fs::metadata(dir) {
        Ok(meta) => {
            let current = meta.permissions().mode() & 0o7777;
            if current & !mode != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(current & mode))
                    .map_err(err)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(dir)
                .map_err(err)?;
            // The umask may have narrowed it; set exactly what was asked.
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(err)
        }
        Err(e) => Err(err(e)),
    }
}

/// rcgen's `OffsetDateTime` for a `SystemTime` (rcgen does not re-export the
/// `time` crate; arithmetic on its epoch value avoids a direct dependency).
fn params_with_validity(now: SystemTime, days: u64) -> CertificateParams {
    let mut params = CertificateParams::default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let now = Duration::from_secs(unix_secs(now));
    params.not_before = epoch + now.saturating_sub(BACKDATE);
    params.not_after = epoch + now + Duration::from_secs(days * DAY);
    params
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// The CA's parameters. Rebuilding them from the same constants yields the
/// same issuer name, and the authority key identifier is derived from the
/// key, so leaf certificates signed later chain to the CA on disk.
fn ca_params(now: SystemTime) -> CertificateParams {
    let mut params = params_with_validity(now, CA_VALIDITY_DAYS);
    params.distinguished_name = dn(CA_CN);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn generate_key(what: &'static str) -> Result<KeyPair, TlsError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|source| TlsError::Generate { what, source })
}

struct Issued {
    cert_pem: String,
    key_pem: String,
}

/// berth's CA certificate for `key` (the one place it is built).
fn ca_certificate(key: &KeyPair, now: SystemTime) -> Result<rcgen::Certificate, rcgen::Error> {
    ca_params(now).self_signed(key)
}

fn issue_ca(now: SystemTime) -> Result<(Issued, KeyPair), TlsError> {
    let key = generate_key("CA key")?;
    let cert = ca_certificate(&key, now).map_err(|source| TlsError::Generate {
        what: "CA certificate",
        source,
    })?;
    let issued = Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    Ok((issued, key))
}

enum Leaf<'a> {
    Server {
        dns: &'a [String],
        ips: &'a [IpAddr],
    },
    Client,
}

fn issue_leaf(
    leaf: &Leaf<'_>,
    issuer: &Issuer<'_, KeyPair>,
    now: SystemTime,
) -> Result<Issued, TlsError> {
    let what = match leaf {
        Leaf::Server { .. } => "server certificate",
        Leaf::Client => "client certificate",
    };
    let key = generate_key(what)?;
    let mut params = params_with_validity(now, LEAF_VALIDITY_DAYS);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match leaf {
        Leaf::Server { dns, ips } => {
            params.distinguished_name = dn(SERVER_CN);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            for name in *dns {
                let san = name
                    .as_str()
                    .try_into()
                    .map_err(|source| TlsError::Generate { what, source })?;
                params.subject_alt_names.push(SanType::DnsName(san));
            }
            params
                .subject_alt_names
                .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        }
        Leaf::Client => {
            params.distinguished_name = dn(CLIENT_CN);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|source| TlsError::Generate { what, source })?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// What a part's files are, judged from the certificates themselves.
enum OnDisk {
    Absent,
    /// berth's own: for the CA, its key; for a leaf, why it needs
    /// reissuing (None: reuse it).
    Ours(Option<String>),
    UserProvided,
}

/// The first certificate in a PEM file; None when there is none. (The
/// reader form: bollard links that one already.)
fn parse_pem(pem: &[u8]) -> Option<CertificateDer<'static>> {
    CertificateDer::pem_reader_iter(pem).next()?.ok()
}

/// `now` (plus `ahead`) as webpki's time.
fn webpki_time(now: SystemTime, ahead: Duration) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(unix_secs(now)) + ahead)
}

const RENEW_BEFORE: Duration = Duration::from_secs(RENEW_BEFORE_DAYS * DAY);

/// berth's CA name and public key as a trust anchor presents them: the
/// name is fixed ([`CA_CN`]), so a certificate rebuilt from the constants
/// and signed with `key` carries both (nothing is written).
fn berth_ca_identity(key: &KeyPair, now: SystemTime) -> Option<(Vec<u8>, Vec<u8>)> {
    let cert = ca_certificate(key, now).ok()?;
    let anchor = webpki::anchor_from_trusted_cert(cert.der()).ok()?;
    Some((
        anchor.subject.as_ref().to_vec(),
        anchor.subject_public_key_info.as_ref().to_vec(),
    ))
}

/// The CA's files: berth's (its name, and the key beside it signs for it),
/// someone else's, or none.
fn classify_ca(paths: &PartPaths, now: SystemTime) -> Result<(OnDisk, Option<KeyPair>), TlsError> {
    if !paths.cert.exists() {
        if paths.key.exists() {
            return Err(TlsError::Incomplete {
                path: paths.key.clone(),
                missing: paths.cert.clone(),
            });
        }
        return Ok((OnDisk::Absent, None));
    }
    paths.check_complete()?;
    let Some(der) = parse_pem(&read(&paths.cert)?) else {
        return Ok((OnDisk::UserProvided, None));
    };
    let key_pem = String::from_utf8_lossy(&read(&paths.key)?).into_owned();
    let Ok(key) = KeyPair::from_pem(&key_pem) else {
        return Ok((OnDisk::UserProvided, None));
    };
    let ours = match (
        webpki::anchor_from_trusted_cert(&der),
        berth_ca_identity(&key, now),
    ) {
        (Ok(anchor), Some((subject, spki))) => {
            anchor.subject.as_ref() == subject.as_slice()
                && anchor.subject_public_key_info.as_ref() == spki.as_slice()
        }
        _ => false,
    };
    if !ours {
        return Ok((OnDisk::UserProvided, None));
    }
    let renew =
        (!ca_valid_at(&der, webpki_time(now, RENEW_BEFORE))).then(|| "CA expires soon".to_owned());
    Ok((OnDisk::Ours(renew), Some(key)))
}

/// Whether the CA certificate `der` is within its validity at `time`.
/// webpki checks a certificate's validity before its role, so a CA
/// presented as an end entity fails with CaUsedAsEndEntity exactly when its
/// validity holds (webpki never checks a trust anchor's own dates).
fn ca_valid_at(der: &CertificateDer<'_>, time: UnixTime) -> bool {
    let Ok(cert) = webpki::EndEntityCert::try_from(der) else {
        return false;
    };
    let Ok(anchor) = webpki::anchor_from_trusted_cert(der) else {
        return false;
    };
    matches!(
        cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            time,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        ),
        Ok(_) | Err(webpki::Error::CaUsedAsEndEntity)
    )
}

/// What a leaf must be valid for.
enum Wanted<'a> {
    Server {
        dns: &'a [String],
        ips: &'a [IpAddr],
    },
    Client,
}

/// berth's CA as the leaves see it.
struct BerthCa<'a> {
    cert: &'a CertificateDer<'static>,
    /// Made new in this run: every earlier leaf of berth's is from the old one.
    renewed: bool,
}

/// A leaf's files: berth's (issued under berth's CA name) with the reason
/// it needs reissuing, someone else's, or none. `ca` is None when the CA is
/// not berth's (then no leaf is).
fn classify_leaf(
    paths: &PartPaths,
    ca: Option<&BerthCa<'_>>,
    wanted: &Wanted<'_>,
    now: SystemTime,
) -> Result<OnDisk, TlsError> {
    if !paths.cert.exists() {
        if paths.key.exists() {
            return Err(TlsError::Incomplete {
                path: paths.key.clone(),
                missing: paths.cert.clone(),
            });
        }
        return Ok(OnDisk::Absent);
    }
    paths.check_complete()?;
    let (Some(ca), Some(der)) = (ca, parse_pem(&read(&paths.cert)?)) else {
        return Ok(OnDisk::UserProvided);
    };
    let (Ok(leaf), Ok(anchor)) = (
        webpki::EndEntityCert::try_from(&der),
        webpki::anchor_from_trusted_cert(ca.cert),
    ) else {
        return Ok(OnDisk::UserProvided);
    };
    if leaf.issuer() != anchor.subject.as_ref() {
        return Ok(OnDisk::UserProvided);
    }
    if ca.renewed {
        return Ok(OnDisk::Ours(Some("the CA changed".to_owned())));
    }
    let usage = match wanted {
        Wanted::Server { .. } => webpki::KeyUsage::server_auth(),
        Wanted::Client => webpki::KeyUsage::client_auth(),
    };
    let anchors = [anchor];
    let verify = |time| {
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &[],
            time,
            usage,
            None,
            None,
        )
        .map(|_| ())
    };
    let reason = match verify(webpki_time(now, Duration::ZERO)) {
        Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => {
            Some("expires soon".to_owned())
        }
        Err(_) => Some("the CA changed".to_owned()),
        Ok(()) if verify(webpki_time(now, RENEW_BEFORE)).is_err() => {
            Some("expires soon".to_owned())
        }
        Ok(()) => match wanted {
            Wanted::Server { dns, ips } if !valid_for_all(&leaf, dns, ips) => {
                Some("SANs changed".to_owned())
            }
            _ => None,
        },
    };
    Ok(OnDisk::Ours(reason))
}

/// The leaf is valid for every DNS name (those webpki can check) and address.
fn valid_for_all(leaf: &webpki::EndEntityCert<'_>, dns: &[String], ips: &[IpAddr]) -> bool {
    let names = dns
        .iter()
        .filter_map(|name| ServerName::try_from(name.as_str()).ok());
    let addresses = ips.iter().map(|ip| ServerName::IpAddress((*ip).into()));
    names
        .chain(addresses)
        .all(|name| leaf.verify_is_valid_for_subject_name(&name).is_ok())
}

/// Ensure `<certdir>` holds a CA, a server and a client certificate, reusing
/// what is valid and never touching what berth did not write.
///
/// Steps, in order:
/// 1. CA: reuse berth's own unless it expires within [`RENEW_BEFORE_DAYS`];
///    keep a user-provided one (not berth's name, or no key of its own) as
///    it is; generate one when `ca/` is empty.
/// 2. server, client: reuse berth's own when they chain to the current CA,
///    do not expire within [`RENEW_BEFORE_DAYS`] and (server) are valid for
///    every wanted name and address; keep user-provided ones; otherwise issue
///    with berth's CA. A user-provided CA with missing leaves is an error:
///    berth does not sign with a CA it did not create.
/// 3. chown the client dir and files to `client_owner`.
pub fn ensure_certs(req: &TlsRequest, ops: &dyn Syscall) -> Result<TlsMaterial, TlsError> {
    let certdir = &req.certdir;
    ensure_dir(certdir, 0o755)?;
    let ca_paths = PartPaths::new(certdir, "ca");
    let server_paths = PartPaths::new(certdir, "server");
    let client_paths = PartPaths::new(certdir, "client");

    // 1. The CA, and its key when berth may sign.
    let (ca_action, ca_key) = match classify_ca(&ca_paths, req.now)? {
        (OnDisk::Ours(None), key) => (PartAction::Reused, key),
        (OnDisk::UserProvided, _) => {
            tracing::info!(dir = %ca_paths.dir.display(), "using the user-provided CA as it is");
            (PartAction::UserProvided, None)
        }
        (state @ (OnDisk::Absent | OnDisk::Ours(Some(_))), _) => {
            ensure_dir(&ca_paths.dir, 0o700)?;
            let (issued, key) = issue_ca(req.now)?;
            write_atomic(&ca_paths.key, issued.key_pem.as_bytes(), 0o600)?;
            write_atomic(&ca_paths.cert, issued.cert_pem.as_bytes(), 0o644)?;
            let action = match state {
                OnDisk::Ours(Some(reason)) => PartAction::Reissued(reason),
                _ => PartAction::Generated,
            };
            (action, Some(key))
        }
    };
    let ca_pem = if ca_paths.cert.exists() {
        Some(read(&ca_paths.cert)?)
    } else {
        None
    };
    // Leaves are berth's only under berth's CA.
    let ca_der = ca_key.as_ref().and(ca_pem.as_deref()).and_then(parse_pem);
    let berth_ca = ca_der.as_ref().map(|cert| BerthCa {
        cert,
        renewed: matches!(ca_action, PartAction::Generated | PartAction::Reissued(_)),
    });
    let issuer = ca_key.map(|key| Issuer::new(ca_params(req.now), key));

    // 2. The leaves.
    let (dns, ips) = server_sans(req);
    let leaf_action = |name: &'static str,
                       paths: &PartPaths,
                       leaf: Leaf<'_>,
                       wanted: Wanted<'_>|
     -> Result<PartAction, TlsError> {
        let reason = match classify_leaf(paths, berth_ca.as_ref(), &wanted, req.now)? {
            OnDisk::UserProvided => {
                tracing::info!(dir = %paths.dir.display(), "using user-provided {name} certificate as it is");
                return Ok(PartAction::UserProvided);
            }
            OnDisk::Ours(None) => return Ok(PartAction::Reused),
            OnDisk::Ours(Some(reason)) => Some(reason),
            OnDisk::Absent => None,
        };
        let (Some(issuer), Some(ca_pem)) = (&issuer, &ca_pem) else {
            return Err(TlsError::UserCaCannotSign {
                dir: certdir.clone(),
                part: name,
            });
        };
        ensure_dir(&paths.dir, 0o755)?;
        let issued = issue_leaf(&leaf, issuer, req.now)?;
        write_atomic(&paths.key, issued.key_pem.as_bytes(), 0o600)?;
        write_atomic(&paths.cert, issued.cert_pem.as_bytes(), 0o644)?;
        if let Some(copy) = &paths.ca_copy {
            write_atomic(copy, ca_pem, 0o644)?;
        }
        Ok(match reason {
            None => PartAction::Generated,
            Some(reason) => PartAction::Reissued(reason),
        })
    };
    let server_action = leaf_action(
        "server",
        &server_paths,
        Leaf::Server {
            dns: &dns,
            ips: &ips,
        },
        Wanted::Server {
            dns: &dns,
            ips: &ips,
        },
    )?;
    let client_action = leaf_action("client", &client_paths, Leaf::Client, Wanted::Client)?;

    // 3. Ownership of the shared dir.
    if let Some((uid, gid)) = req.client_owner {
        let files = [&client_paths.dir, &client_paths.cert, &client_paths.key];
        for path in files.into_iter().chain(client_paths.ca_copy.as_ref()) {
            ops.chown(path, uid, gid)
                .map_err(|source| TlsError::Chown {
                    path: path.clone(),
                    uid,
                    gid,
                    source,
                })?;
        }
    }

    Ok(TlsMaterial {
        certdir: certdir.clone(),
        ca: ca_action,
        server: server_action,
        client: client_action,
        daemon: DaemonTlsPaths {
            ca: server_paths
                .ca_copy
                .clone()
                .unwrap_or_else(|| server_paths.dir.join("ca.pem")),
            cert: server_paths.cert,
            key: server_paths.key,
        },
        client_dir: client_paths.dir,
    })
}

/// The host's non-loopback interface addresses, for the server certificate's
/// SANs. IPv6 link-local addresses are left out: they need a zone to be
/// dialled and no client names them in DOCKER_HOST.
pub fn host_ip_addresses() -> Result<Vec<IpAddr>, nix::errno::Errno> {
    use nix::net::if_::InterfaceFlags;
    let mut out = BTreeSet::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        if ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            continue;
        }
        let Some(addr) = ifa.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if is_usable_san(ip) {
            out.insert(ip);
        }
    }
    Ok(out.into_iter().collect())
}

fn is_usable_san(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified(),
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !v6.is_loopback() && !v6.is_unspecified() && !link_local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::syscall::{Call, RecordingSyscall};
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    fn request(certdir: &Path) -> TlsRequest {
        TlsRequest {
            certdir: certdir.to_owned(),
            hostname: "box1".to_owned(),
            ip_addresses: vec!["10.1.2.3".parse().expect("ip")],
            extra_sans: Vec::new(),
            client_owner: None,
            now: SystemTime::now(),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").mode() & 0o7777
    }

    fn setup() -> (tempfile::TempDir, PathBuf, RecordingSyscall) {
        let dir = tempfile::tempdir().expect("tempdir");
        let certdir = dir.path().join("certs");
        (dir, certdir, RecordingSyscall::new())
    }

    #[test]
    fn first_run_generates_the_dind_layout_with_modes() {
        let (_dir, certdir, ops) = setup();
        let m = ensure_certs(&request(&certdir), &ops).expect("certs");
        assert_eq!(m.ca, PartAction::Generated);
        assert_eq!(m.server, PartAction::Generated);
        assert_eq!(m.client, PartAction::Generated);
        for f in [
            "ca/cert.pem",
            "server/ca.pem",
            "server/cert.pem",
            "client/ca.pem",
            "client/cert.pem",
        ] {
            assert_eq!(mode(&certdir.join(f)), 0o644, "{f}");
        }
        for f in ["ca/key.pem", "server/key.pem", "client/key.pem"] {
            assert_eq!(mode(&certdir.join(f)), 0o600, "{f}");
            let pem = fs::read_to_string(certdir.join(f)).expect("read");
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{f}");
        }
        assert_eq!(mode(&certdir.join("ca")), 0o700);
        assert_eq!(mode(&certdir.join("server")), 0o755);
        assert_eq!(mode(&certdir.join("client")), 0o755);
        assert_eq!(
            fs::read(certdir.join("ca/cert.pem")).expect("ca"),
            fs::read(certdir.join("client/ca.pem")).expect("copy")
        );
        assert_eq!(m.daemon.ca, certdir.join("server/ca.pem"));
        assert_eq!(
            m.daemon.dockerd_flags(),
            vec![
                "--tlsverify".to_owned(),
                format!("--tlscacert={}", certdir.join("server/ca.pem").display()),
                format!("--tlscert={}", certdir.join("server/cert.pem").display()),
                format!("--tlskey={}", certdir.join("server/key.pem").display()),
            ]
        );
        assert!(ops.calls().is_empty(), "no owner asked, no chown");
    }

    #[test]
    fn keys_stay_0600_under_a_permissive_umask_and_certs_0644_under_a_strict_one() {
        // write_atomic sets modes on the fd, independent of the umask.
        let dir = tempfile::tempdir().expect("tempdir");
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        let res = write_atomic(&dir.path().join("c.pem"), b"x", 0o644);
        nix::sys::stat::umask(old);
        res.expect("write");
        assert_eq!(mode(&dir.path().join("c.pem")), 0o644);
    }

    #[test]
    fn second_run_reuses_everything_and_keeps_files() {
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("first");
        let before = fs::read(certdir.join("server/cert.pem")).expect("read");
        let m = ensure_certs(&request(&certdir), &ops).expect("second");
        assert_eq!(
            (m.ca, m.server, m.client),
            (PartAction::Reused, PartAction::Reused, PartAction::Reused)
        );
        assert_eq!(
            fs::read(certdir.join("server/cert.pem")).expect("read"),
            before
        );
    }

    #[test]
    fn san_change_reissues_only_the_server_cert() {
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("first");
        let ca_before = fs::read(certdir.join("ca/cert.pem")).expect("read");
        let client_before = fs::read(certdir.join("client/cert.pem")).expect("read");
        let mut req = request(&certdir);
        req.ip_addresses.push("10.9.9.9".parse().expect("ip"));
        let m = ensure_certs(&req, &ops).expect("second");
        assert_eq!(m.ca, PartAction::Reused);
        assert_eq!(m.server, PartAction::Reissued("SANs changed".to_owned()));
        assert_eq!(m.client, PartAction::Reused);
        assert_eq!(
            fs::read(certdir.join("ca/cert.pem")).expect("read"),
            ca_before
        );
        assert_eq!(
            fs::read(certdir.join("client/cert.pem")).expect("read"),
            client_before
        );
        let pem = fs::read(certdir.join("server/cert.pem")).expect("read");
        let der = parse_pem(&pem).expect("a certificate");
        let leaf = webpki::EndEntityCert::try_from(&der).expect("parses");
        let new_ip = ServerName::IpAddress("10.9.9.9".parse::<IpAddr>().expect("ip").into());
        assert!(leaf.verify_is_valid_for_subject_name(&new_ip).is_ok());
        // Order of inputs does not matter: same set, no reissue.
        req.ip_addresses.reverse();
        let m = ensure_certs(&req, &ops).expect("third");
        assert_eq!(m.server, PartAction::Reused);
    }

    #[test]
    fn near_expiry_reissues_leaves_but_keeps_the_ca() {
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("first");
        let mut req = request(&certdir);
        req.now = SystemTime::now() + Duration::from_secs((LEAF_VALIDITY_DAYS - 10) * DAY);
        let m = ensure_certs(&req, &ops).expect("later");
        assert_eq!(m.ca, PartAction::Reused);
        assert_eq!(m.server, PartAction::Reissued("expires soon".to_owned()));
        assert_eq!(m.client, PartAction::Reissued("expires soon".to_owned()));
    }

    #[test]
    fn expiring_ca_reissues_everything() {
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("first");
        let mut req = request(&certdir);
        req.now = SystemTime::now() + Duration::from_secs((CA_VALIDITY_DAYS - 1) * DAY);
        let m = ensure_certs(&req, &ops).expect("later");
        assert_eq!(m.ca, PartAction::Reissued("CA expires soon".to_owned()));
        assert_eq!(m.server, PartAction::Reissued("the CA changed".to_owned()));
        assert_eq!(m.client, PartAction::Reissued("the CA changed".to_owned()));
    }

    #[test]
    fn user_provided_certs_are_never_overwritten() {
        let (_dir, certdir, ops) = setup();
        for part in ["ca", "server", "client"] {
            fs::create_dir_all(certdir.join(part)).expect("mkdir");
            for f in ["cert.pem", "key.pem", "ca.pem"] {
                fs::write(certdir.join(part).join(f), format!("user {part} {f}")).expect("write");
            }
        }
        let m = ensure_certs(&request(&certdir), &ops).expect("certs");
        assert_eq!(
            (m.ca, m.server, m.client),
            (
                PartAction::UserProvided,
                PartAction::UserProvided,
                PartAction::UserProvided
            )
        );
        assert_eq!(
            fs::read_to_string(certdir.join("ca/key.pem")).expect("read"),
            "user ca key.pem"
        );
        for part in ["ca", "server", "client"] {
            let files: Vec<_> = fs::read_dir(certdir.join(part))
                .expect("ls")
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert_eq!(files.len(), 3, "nothing written in {part}: {files:?}");
            for f in ["cert.pem", "key.pem", "ca.pem"] {
                assert_eq!(
                    fs::read_to_string(certdir.join(part).join(f)).expect("read"),
                    format!("user {part} {f}")
                );
            }
        }
    }

    /// A real CA of someone else's, with its key, and leaves it signed for
    /// other names: all used as they are; berth signs nothing with it.
    #[test]
    fn a_foreign_ca_with_its_key_is_used_but_never_signed_with() {
        let (_dir, certdir, ops) = setup();
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = dn("someone else's CA");
        let key = KeyPair::generate().expect("key");
        let ca = params.self_signed(&key).expect("ca");
        let ca_pem = ca.pem();
        let issuer = Issuer::new(params, key);
        fs::create_dir_all(certdir.join("ca")).expect("mkdir");
        fs::write(certdir.join("ca/cert.pem"), &ca_pem).expect("write");
        fs::write(certdir.join("ca/key.pem"), issuer.key().serialize_pem()).expect("write");
        let m = ensure_certs(&request(&certdir), &ops);
        assert!(
            matches!(m, Err(TlsError::UserCaCannotSign { part: "server", .. })),
            "{m:?}"
        );
        for part in ["server", "client"] {
            let leaf_key = KeyPair::generate().expect("key");
            let leaf = CertificateParams::new(vec!["elsewhere.example".to_owned()])
                .expect("params")
                .signed_by(&leaf_key, &issuer)
                .expect("signed");
            fs::create_dir_all(certdir.join(part)).expect("mkdir");
            fs::write(certdir.join(part).join("cert.pem"), leaf.pem()).expect("write");
            fs::write(certdir.join(part).join("key.pem"), leaf_key.serialize_pem()).expect("write");
            fs::write(certdir.join(part).join("ca.pem"), &ca_pem).expect("write");
        }
        let before = fs::read(certdir.join("server/cert.pem")).expect("read");
        let m = ensure_certs(&request(&certdir), &ops).expect("certs");
        assert_eq!(
            (m.ca, m.server, m.client),
            (
                PartAction::UserProvided,
                PartAction::UserProvided,
                PartAction::UserProvided
            )
        );
        assert_eq!(
            fs::read(certdir.join("server/cert.pem")).expect("read"),
            before
        );
    }

    #[test]
    fn a_replaced_server_cert_is_treated_as_user_provided() {
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("first");
        fs::write(certdir.join("server/cert.pem"), "the user's own").expect("write");
        let mut req = request(&certdir);
        req.hostname = "renamed".to_owned();
        let m = ensure_certs(&req, &ops).expect("second");
        assert_eq!(m.server, PartAction::UserProvided);
        assert_eq!(
            fs::read_to_string(certdir.join("server/cert.pem")).expect("read"),
            "the user's own"
        );
    }

    #[test]
    fn user_ca_with_missing_server_cert_is_an_error_not_an_overwrite() {
        let (_dir, certdir, ops) = setup();
        fs::create_dir_all(certdir.join("ca")).expect("mkdir");
        fs::write(certdir.join("ca/cert.pem"), "user ca").expect("write");
        fs::write(certdir.join("ca/key.pem"), "user key").expect("write");
        let err = ensure_certs(&request(&certdir), &ops).expect_err("must refuse");
        assert!(
            matches!(err, TlsError::UserCaCannotSign { part: "server", .. }),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(certdir.join("ca/key.pem")).expect("read"),
            "user key"
        );
    }

    #[test]
    fn incomplete_set_is_an_error() {
        let (_dir, certdir, ops) = setup();
        fs::create_dir_all(certdir.join("ca")).expect("mkdir");
        fs::write(certdir.join("ca/cert.pem"), "user ca").expect("write");
        let err = ensure_certs(&request(&certdir), &ops).expect_err("must refuse");
        assert!(matches!(err, TlsError::Incomplete { .. }), "{err}");
    }

    #[test]
    fn client_owner_chowns_the_client_dir_and_files_only() {
        let (_dir, certdir, ops) = setup();
        let mut req = request(&certdir);
        req.client_owner = Some((1000, 1000));
        ensure_certs(&req, &ops).expect("certs");
        let chowned: Vec<PathBuf> = ops
            .calls()
            .into_iter()
            .map(|c| match c {
                Call::Chown {
                    path,
                    uid: 1000,
                    gid: 1000,
                } => path,
                other => panic!("unexpected call {other:?}"),
            })
            .collect();
        let client = certdir.join("client");
        assert_eq!(
            chowned,
            vec![
                client.clone(),
                client.join("cert.pem"),
                client.join("key.pem"),
                client.join("ca.pem")
            ]
        );
    }

    #[test]
    fn sans_always_include_loopback_and_docker_names() {
        let (dns, ips) = server_sans(&request(Path::new("/x")));
        assert_eq!(dns, vec!["box1", "docker", "localhost"]);
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        assert_eq!(ips, vec!["10.1.2.3", "127.0.0.1", "::1"]);
    }

    #[test]
    fn extra_sans_accept_names_addresses_and_dind_prefixes() {
        let mut req = request(Path::new("/x"));
        req.extra_sans = vec![
            "DNS:dind.example".into(),
            "IP:192.0.2.7".into(),
            "198.51.100.1".into(),
            "plain.example".into(),
            " ".into(),
        ];
        let (dns, ips) = server_sans(&req);
        assert_eq!(
            dns,
            vec![
                "box1",
                "dind.example",
                "docker",
                "localhost",
                "plain.example"
            ]
        );
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        assert_eq!(
            ips,
            vec!["10.1.2.3", "127.0.0.1", "192.0.2.7", "198.51.100.1", "::1"]
        );
    }

    #[test]
    fn host_ip_addresses_lists_no_loopback() {
        let ips = host_ip_addresses().expect("getifaddrs");
        assert!(ips.iter().all(|ip| !ip.is_loopback()), "{ips:?}");
        assert!(!is_usable_san("fe80::1".parse().expect("ip")));
        assert!(is_usable_san("fd00::1".parse().expect("ip")));
    }

    fn openssl() -> Option<PathBuf> {
        match which::which("openssl") {
            Ok(p) => Some(p),
            Err(_) => {
                eprintln!("skipping: openssl CLI not found on PATH");
                None
            }
        }
    }

    fn run(cmd: &mut Command) -> (bool, String) {
        let out = cmd.output().expect("spawn openssl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    #[test]
    fn openssl_verifies_chain_sans_and_ekus() {
        let Some(openssl) = openssl() else { return };
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("certs");
        for (part, purpose) in [("server", "sslserver"), ("client", "sslclient")] {
            let (ok, text) = run(Command::new(&openssl)
                .args(["verify", "-purpose", purpose, "-CAfile"])
                .arg(certdir.join(part).join("ca.pem"))
                .arg(certdir.join(part).join("cert.pem")));
            assert!(ok, "{part}: {text}");
        }
        // The client cert must not pass as a server cert (EKU is enforced).
        let (ok, _) = run(Command::new(&openssl)
            .args(["verify", "-purpose", "sslserver", "-CAfile"])
            .arg(certdir.join("ca/cert.pem"))
            .arg(certdir.join("client/cert.pem")));
        assert!(!ok, "client cert accepted for serverAuth");
        let (ok, text) = run(Command::new(&openssl)
            .args(["x509", "-noout", "-text", "-in"])
            .arg(certdir.join("server/cert.pem")));
        assert!(ok, "{text}");
        for needle in [
            "DNS:box1",
            "DNS:localhost",
            "DNS:docker",
            "IP Address:10.1.2.3",
            "IP Address:127.0.0.1",
            "IP Address:0:0:0:0:0:0:0:1",
            "TLS Web Server Authentication",
            "ASN1 OID: prime256v1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        let (ok, text) = run(Command::new(&openssl)
            .args(["x509", "-noout", "-text", "-in"])
            .arg(certdir.join("ca/cert.pem")));
        assert!(ok && text.contains("CA:TRUE"), "{text}");
        // The key matches the certificate.
        let (ok1, cert_pub) = run(Command::new(&openssl)
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(certdir.join("server/cert.pem")));
        let (ok2, key_pub) = run(Command::new(&openssl)
            .args(["pkey", "-pubout", "-in"])
            .arg(certdir.join("server/key.pem")));
        assert!(ok1 && ok2);
        assert_eq!(cert_pub, key_pub);
    }

    #[test]
    fn openssl_mutual_tls_handshake_succeeds_with_generated_certs() {
        let Some(openssl) = openssl() else { return };
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("certs");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let server_dir = certdir.join("server");
        let mut server = Command::new(&openssl)
            .args([
                "s_server",
                "-quiet",
                "-naccept",
                "1",
                "-Verify",
                "1",
                "-verify_return_error",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(server_dir.join("cert.pem"))
            .arg("-key")
            .arg(server_dir.join("key.pem"))
            .arg("-CAfile")
            .arg(server_dir.join("ca.pem"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn s_server");
        let client_dir = certdir.join("client");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (ok, text) = loop {
            let (ok, text) = run(Command::new(&openssl)
                .args([
                    "s_client",
                    "-brief",
                    "-verify_return_error",
                    "-verify_hostname",
                    "docker",
                ])
                .args(["-connect", &format!("127.0.0.1:{port}")])
                .arg("-cert")
                .arg(client_dir.join("cert.pem"))
                .arg("-key")
                .arg(client_dir.join("key.pem"))
                .arg("-CAfile")
                .arg(client_dir.join("ca.pem"))
                .stdin(std::process::Stdio::null()));
            // Connection refused means the server is not listening yet.
            if ok || !text.contains("onnect") || std::time::Instant::now() > deadline {
                break (ok, text);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let _ = server.kill();
        let _ = server.wait();
        assert!(ok, "{text}");
        assert!(text.contains("Verification: OK"), "{text}");
    }

    #[test]
    fn openssl_verifies_a_reissued_server_cert_against_the_kept_ca() {
        let Some(openssl) = openssl() else { return };
        let (_dir, certdir, ops) = setup();
        ensure_certs(&request(&certdir), &ops).expect("first");
        let mut req = request(&certdir);
        req.hostname = "box2".to_owned();
        let m = ensure_certs(&req, &ops).expect("second");
        assert_eq!(m.ca, PartAction::Reused);
        let (ok, text) = run(Command::new(&openssl)
            .args(["verify", "-purpose", "sslserver", "-CAfile"])
            .arg(certdir.join("ca/cert.pem"))
            .arg(certdir.join("server/cert.pem")));
        assert!(ok, "{text}");
    }
}
