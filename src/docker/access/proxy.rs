//! berth's own socket in front of the engine's, for sockets whose group
//! cannot be granted ([`super::rule`]).
//!
//! berth (root) listens on a unix socket owned by root and a group only for
//! Docker, mode 0660, and forwards every connection byte for byte to the
//! engine's socket, in-process on berth's tokio runtime. Nothing is parsed:
//! the HTTP/1.1 the docker CLI speaks, its connection upgrades (`docker run
//! -it`, attach, exec) and long streams (`logs -f`, `events`) pass through
//! as they are, and a half-close travels on (the CLI closes its side when
//! stdin ends and keeps reading the output).
//!
//! - Each client connection gets a fresh connection to the engine, made when
//!   it arrives: an engine that restarts behind a mounted directory is
//!   reached again by the next connection, and berth never holds one open.
//! - When the engine cannot be reached, the client gets an HTTP `502` with
//!   a JSON `message` naming the engine's socket and the error (the docker
//!   CLI prints it as "Error response from daemon: ..."), and berth goes on.
//! - At most [`MAX_CONNECTIONS`] connections are forwarded at once; more
//!   wait in the listen backlog until one ends (no connection is dropped).
//! - The host's socket is never touched: no chmod, no chown; berth only
//!   connects to it.
//!
//! Copying uses [`tokio::io::copy_bidirectional_with_sizes`] with
//! [`BUFFER_SIZE`] buffers each way (bench/proxy.sh measures it against the
//! socket itself).

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::host::files::read_only_run_hint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// Connections forwarded at once. A `docker compose up` of a large project
/// opens a few dozen; each connection costs two [`BUFFER_SIZE`] buffers.
pub const MAX_CONNECTIONS: usize = 128;
/// Per direction and connection (`docker save | docker load` throughput is
/// what it is for; 8 KiB, tokio's default, costs throughput on large streams).
pub const BUFFER_SIZE: usize = 64 * 1024;
/// The proxy socket's permissions: owner and group, never others.
pub const SOCKET_MODE: u32 = 0o660;
/// How long a refused client may go on sending its request before berth
/// closes the connection (it reads it to the end first, so the client gets
/// the error response and not a reset).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long berth waits after a failed accept (EMFILE and friends) before
/// the next one, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{path} is in use: something answers there; berth does not replace a live socket (remove the mount or the process that serves it)")]
    Occupied { path: PathBuf },
    #[error("{path} exists and is not a socket; berth does not remove it (move it away, or mount the host socket at another path)")]
    NotASocket { path: PathBuf },
    #[error("cannot remove the stale socket {path}: {source}")]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create {path}: {source}{}", read_only_run_hint(.source))]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on {path}: {source}{}", read_only_run_hint(.source))]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot give {path} to gid {gid} with mode 0660: {source}")]
    Own {
        path: PathBuf,
        gid: u32,
        #[source]
        source: io::Error,
    },
}

/// What berth serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySocket {
    /// Where berth listens.
    pub path: PathBuf,
    /// The group that may connect (mode 0660, owner root).
    pub gid: u32,
    /// The engine's socket every connection is forwarded to.
    pub upstream: PathBuf,
}

/// Makes `socket.path` a listening socket owned by berth's uid and
/// `socket.gid`, mode 0660. It is never world-accessible, not even for an
/// instant: it is created with umask 0777 (as dockerd creates its own) and
/// only then given its group and mode. A socket left at the path by an
/// earlier start (nothing answers there) is replaced; a live socket, or
/// anything that is not a socket, is an error.
pub fn bind(socket: &ProxySocket) -> Result<std::os::unix::net::UnixListener, ProxyError> {
    let path = &socket.path;
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|source| ProxyError::CreateDir {
                    path: dir.to_owned(),
                    source,
                })?;
        }
    }
    remove_stale(path)?;
    let listener = {
        let previous = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o777));
        let bound = std::os::unix::net::UnixListener::bind(path);
        nix::sys::stat::umask(previous);
        bound.map_err(|source| ProxyError::Bind {
            path: path.clone(),
            source,
        })?
    };
    let own = |source| ProxyError::Own {
        path: path.clone(),
        gid: socket.gid,
        source,
    };
    // The socket file, by path: fchown on the descriptor would change the
    // socket's own inode, not the file other processes connect through.
    std::os::unix::fs::lchown(path, None, Some(socket.gid)).map_err(own)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(own)?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ProxyError::Bind {
            path: path.clone(),
            source,
        })?;
    Ok(listener)
}

/// Removes a socket at `path` that nothing serves (ECONNREFUSED). A missing
/// path is fine; a live socket or a non-socket is an error.
fn remove_stale(path: &Path) -> Result<(), ProxyError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {
            return Err(ProxyError::NotASocket {
                path: path.to_owned(),
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ProxyError::NotASocket {
            path: path.to_owned(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => {
            return Err(ProxyError::Occupied {
                path: path.to_owned(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
        // A socket nobody may connect to is someone's: not stale for berth to judge.
        Err(_) => {
            return Err(ProxyError::Occupied {
                path: path.to_owned(),
            })
        }
    }
    std::fs::remove_file(path).map_err(|source| ProxyError::RemoveStale {
        path: path.to_owned(),
        source,
    })
}

/// Accepts and forwards until berth exits (a task on berth's LocalSet).
/// Never returns an error: a failed accept is retried, a failed connection
/// is that connection's.
pub async fn serve(listener: UnixListener, upstream: PathBuf, max_connections: usize) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let upstream: Rc<Path> = upstream.into();
    loop {
        // A slot first: past the bound, clients wait in the backlog.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(err) => {
                tracing::debug!(error = %err, "docker socket proxy: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let upstream = upstream.clone();
        tokio::task::spawn_local(async move {
            forward(client, &upstream).await;
            drop(slot);
        });
    }
}

/// One client connection: a fresh connection to the engine, then bytes both
/// ways until both sides are done; the engine unreachable: a 502.
pub async fn forward(mut client: UnixStream, upstream: &Path) {
    let mut engine = match UnixStream::connect(upstream).await {
        Ok(engine) => engine,
        Err(err) => {
            tracing::debug!(error = %err, upstream = %upstream.display(), "docker socket proxy: engine unreachable");
            refuse(client, &unreachable_message(upstream, &err)).await;
            return;
        }
    };
    if let Err(err) =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut engine, BUFFER_SIZE, BUFFER_SIZE)
            .await
    {
        // A client or engine that went away mid-stream: that connection's end.
        tracing::debug!(error = %err, "docker socket proxy: connection ended");
    }
}

/// The error the client sees when the engine cannot be reached.
pub fn unreachable_message(upstream: &Path, err: &io::Error) -> String {
    format!(
        "berth's docker socket cannot reach the engine at unix://{}: {err}",
        upstream.display()
    )
}

/// The `502` a client gets instead of the engine's answer.
pub fn error_response(message: &str) -> Vec<u8> {
    let body = serde_json::json!({ "message": message }).to_string();
    format!(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers with [`error_response`], then reads what the client still sends
/// until it closes (bounded by [`DRAIN_TIMEOUT`]): closing a unix socket
/// with unread data would reset the connection before the client reads
/// the answer.
async fn refuse(mut client: UnixStream, message: &str) {
    let _ = client.write_all(&error_response(message)).await;
    let _ = client.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 4096];
        while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// `docker run --read-only`: "cannot create /run/berth: Read-only file
    /// system" carries the fix (a tmpfs at /run); other errors do not.
    #[test]
    fn a_read_only_run_names_the_tmpfs_fix() {
        let erofs = ProxyError::CreateDir {
            path: "/run/berth".into(),
            source: io::Error::from_raw_os_error(libc::EROFS),
        };
        let said = erofs.to_string();
        assert!(
            said.starts_with("cannot create /run/berth: Read-only file system"),
            "{said}"
        );
        assert!(
            said.contains("mount a tmpfs at /run (docker run --tmpfs /run"),
            "{said}"
        );
        let denied = ProxyError::Bind {
            path: "/run/berth/docker.sock".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert!(!denied.to_string().contains("tmpfs"), "{denied}");
        let config = crate::docker::engine::EngineError::Config {
            path: "/run/berth/containerd.toml".into(),
            source: io::Error::from_raw_os_error(libc::EROFS),
        };
        assert!(
            config.to_string().contains("mount a tmpfs at /run"),
            "{config}"
        );
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tokio::task::LocalSet::new().block_on(&runtime, f)
    }

    fn my_gid() -> u32 {
        nix::unistd::getegid().as_raw()
    }

    /// A proxy on `dir/proxy.sock` in front of `dir/engine.sock`.
    fn start(dir: &Path, max: usize) -> ProxySocket {
        let socket = ProxySocket {
            path: dir.join("proxy.sock"),
            gid: my_gid(),
            upstream: dir.join("engine.sock"),
        };
        let listener = bind(&socket).expect("bind");
        let listener = UnixListener::from_std(listener).expect("tokio listener");
        tokio::task::spawn_local(serve(listener, socket.upstream.clone(), max));
        socket
    }

    /// An "engine" that answers each connection with what it read, upper-cased,
    /// once the client has closed its side (a half-close must pass through).
    fn engine(path: &Path) -> tokio::task::JoinHandle<()> {
        let listener = UnixListener::bind(path).expect("engine bind");
        tokio::task::spawn_local(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::task::spawn_local(async move {
                    let mut got = Vec::new();
                    let _ = conn.read_to_end(&mut got).await;
                    let _ = conn.write_all(&got.to_ascii_uppercase()).await;
                });
            }
        })
    }

    async fn round_trip(path: &Path, request: &[u8]) -> Vec<u8> {
        let mut conn = UnixStream::connect(path).await.expect("connect");
        conn.write_all(request).await.expect("write");
        conn.shutdown().await.expect("half-close");
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await.expect("read");
        answer
    }

    #[test]
    fn the_socket_is_0660_with_the_group_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A socket left by an earlier start: bound, then closed.
        drop(std::os::unix::net::UnixListener::bind(dir.path().join("proxy.sock")).expect("bind"));
        block_on(async {
            let socket = start(dir.path(), 4);
            let meta = std::fs::metadata(&socket.path).expect("stat");
            assert!(meta.file_type().is_socket());
            assert_eq!(meta.mode() & 0o7777, 0o660);
            assert_eq!(meta.gid(), my_gid());
        });
    }

    #[test]
    fn a_live_socket_or_a_file_is_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&live).expect("bind");
        let socket = |path: PathBuf| ProxySocket {
            path,
            gid: my_gid(),
            upstream: dir.path().join("engine.sock"),
        };
        let err = bind(&socket(live.clone())).expect_err("live");
        assert!(matches!(err, ProxyError::Occupied { .. }), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").expect("write");
        let err = bind(&socket(file.clone())).expect_err("file");
        assert!(matches!(err, ProxyError::NotASocket { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");
    }

    #[test]
    fn bytes_and_a_half_close_pass_through_both_ways() {
        let dir = tempfile::tempdir().expect("tempdir");
        block_on(async {
            let socket = start(dir.path(), 4);
            let _engine = engine(&socket.upstream);
            let big: Vec<u8> = (0..3 * BUFFER_SIZE + 17)
                .map(|i| b'a' + (i % 26) as u8)
                .collect();
            let answer = round_trip(&socket.path, &big).await;
            assert_eq!(answer, big.to_ascii_uppercase());
        });
    }

    #[test]
    fn an_engine_that_is_down_gets_a_502_and_the_next_connection_reaches_it_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        block_on(async {
            let socket = start(dir.path(), 4);
            let answer =
                round_trip(&socket.path, b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n").await;
            let text = String::from_utf8(answer).expect("utf8");
            assert!(text.starts_with("HTTP/1.1 502 "), "{text}");
            assert!(
                text.contains("engine.sock") && text.contains("No such file"),
                "{text}"
            );
            let body = text.split("\r\n\r\n").nth(1).expect("body");
            let json: serde_json::Value = serde_json::from_str(body).expect("json");
            assert!(
                json["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("berth")),
                "{json}"
            );
            // The engine comes back: a fresh connection per client finds it.
            let _engine = engine(&socket.upstream);
            assert_eq!(round_trip(&socket.path, b"ping").await, b"PING");
        });
    }

    #[test]
    fn connections_past_the_bound_wait_for_a_slot() {
        let dir = tempfile::tempdir().expect("tempdir");
        block_on(async {
            let socket = start(dir.path(), 1);
            let _engine = engine(&socket.upstream);
            // The one slot: held open (no half-close yet).
            let mut first = UnixStream::connect(&socket.path).await.expect("connect");
            first.write_all(b"one").await.expect("write");
            // The second is accepted by the kernel but not forwarded yet.
            let second = tokio::task::spawn_local({
                let path = socket.path.clone();
                async move { round_trip(&path, b"two").await }
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(
                !second.is_finished(),
                "the second connection was served past the bound"
            );
            first.shutdown().await.expect("half-close");
            let mut answer = Vec::new();
            first.read_to_end(&mut answer).await.expect("read");
            assert_eq!(answer, b"ONE");
            drop(first);
            let second = tokio::time::timeout(Duration::from_secs(5), second)
                .await
                .expect("served once the slot was free")
                .expect("task");
            assert_eq!(second, b"TWO");
        });
    }

    #[test]
    fn the_error_response_is_well_formed_http() {
        let response = String::from_utf8(error_response("no \"engine\"")).expect("utf8");
        let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("length")
            .parse()
            .expect("number");
        assert_eq!(length, body.len());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).expect("json")["message"],
            "no \"engine\""
        );
    }
}
