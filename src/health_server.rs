//! An optional HTTP health endpoint (BERTH_HEALTH_ADDR), for orchestrators
//! that probe over the network rather than with `HEALTHCHECK CMD`.
//!
//! - `GET /healthz`: 200 `ok` when the command runs and, when a Docker mode is
//!   active, the engine answers a bounded ping; else 503 with one line saying
//!   why (`command exited`, `engine: unix:///... did not answer: ...`).
//! - `GET /readyz`: 200 once the command has started (after the Docker
//!   set-up, so the engine was ready); 503 before and after.
//! - HEAD is GET without a body; other paths 404, other methods 405.
//!
//! Hand-written HTTP/1.1, one request per connection (`Connection: close`):
//! the request head is read up to [`MAX_REQUEST`] bytes within
//! [`READ_TIMEOUT`], and at most [`MAX_CONNECTIONS`] are served at once, so a
//! slow or hostile client cannot pile up work in PID 1. Runs as a local task
//! on berth's current-thread runtime; the state is shared through an `Rc`.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::docker::client::endpoint::Endpoint;
use crate::docker::client::ping::{ping_with_retry, BollardPinger, RetryPolicy};
use crate::docker::host_path::with_deadline;
use crate::host::HostFacts;
use crate::init::runner::SupervisedRunner;

/// The longest request head read; a probe's is under 200 bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The engine ping per /healthz: a hung engine shows as 503, not as a probe
/// that times out without saying why.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Parses BERTH_HEALTH_ADDR: `IP:PORT`, `[IPv6]:PORT`, or `:PORT` (all IPv4 addresses).
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_string(),
    };
    full.parse().map_err(|_| {
        "not a socket address: use IP:PORT such as 0.0.0.0:9385, [::]:9385 or :9385 (an IP address, not a host name)".to_string()
    })
}

/// Where the command is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommandState {
    #[default]
    NotStarted,
    Running,
    Exited,
}

/// What app.rs tells the server; cheap to clone, single-threaded.
#[derive(Debug, Clone, Default)]
pub struct HealthState(Rc<Cell<CommandState>>);

impl HealthState {
    pub fn command_started(&self) {
        self.0.set(CommandState::Running);
    }

    pub fn command_exited(&self) {
        self.0.set(CommandState::Exited);
    }

    pub fn command(&self) -> CommandState {
        self.0.get()
    }
}

/// Starts the listener on `addr` (BERTH_HEALTH_ADDR) when there is one (a
/// bind failure is a warning: the command still runs, and the probe reports
/// it down); `engine` is the one the Docker set-up gave the command, pinged
/// by /healthz. Must be called inside berth's LocalSet. The returned state is
/// inert without a listener.
pub async fn start(
    addr: Option<SocketAddr>,
    engine: Option<Endpoint>,
    host: &HostFacts,
    helpers: SupervisedRunner,
) -> HealthState {
    let state = HealthState::default();
    let Some(addr) = addr else {
        return state;
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!("BERTH_HEALTH_ADDR: cannot listen on {addr}: {err}; no health endpoint");
            return state;
        }
    };
    tracing::info!(%addr, engine = ?engine.as_ref().map(Endpoint::url), "health endpoint listening");
    let probe = engine.map(|endpoint| PingProbe {
        endpoint,
        // ssh:// engines are pinged through the docker CLI, a helper process:
        // under the reaper it must go through it.
        pinger: BollardPinger::new(host.which("docker"), helpers),
    });
    tokio::task::spawn_local(serve(listener, state.clone(), probe));
    state
}

/// Accepts connections until berth exits.
pub async fn serve(listener: TcpListener, state: HealthState, probe: Option<PingProbe>) {
    let probe = Rc::new(probe);
    let active = Rc::new(Cell::new(0usize));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::debug!(error = %err, "health endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if active.get() >= MAX_CONNECTIONS {
            drop(stream);
            continue;
        }
        active.set(active.get() + 1);
        let (state, probe, active) = (state.clone(), probe.clone(), active.clone());
        tokio::task::spawn_local(async move {
            handle(stream, &state, probe.as_ref().as_ref()).await;
            active.set(active.get() - 1);
        });
    }
}

async fn handle(mut stream: TcpStream, state: &HealthState, probe: Option<&PingProbe>) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Response::text(408, "request not received in time"),
        Ok(Err(response)) => response,
        Ok(Ok(head)) => match parse_request(&head) {
            Err(response) => response,
            Ok(request) => respond(&request, state, probe).await,
        },
    };
    let _ = tokio::time::timeout(READ_TIMEOUT, stream.write_all(&response.to_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the blank line ending the head (or EOF), at most [`MAX_REQUEST`].
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Response> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|_| Response::text(400, "cannot read the request"))?;
        if n == 0 {
            return Ok(head);
        }
        head.extend_from_slice(&buf[..n]);
        if head_complete(&head) {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST {
            return Err(Response::text(431, "request head too large"));
        }
    }
}

fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

/// A request line, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query string.
    pub path: String,
}

/// Parses `METHOD SP TARGET SP HTTP/1.x` from a request head.
pub fn parse_request(head: &[u8]) -> Result<Request, Response> {
    let bad = || Response::text(400, "malformed request line");
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| bad())?;
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(Response::text(505, "only HTTP/1.0 and HTTP/1.1"));
    }
    if !target.starts_with('/') {
        return Err(bad());
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// What a path asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Readyz,
}

/// The route, or the 404/405 answer.
pub fn route(request: &Request) -> Result<Route, Response> {
    let route = match request.path.as_str() {
        "/healthz" => Route::Healthz,
        "/readyz" => Route::Readyz,
        _ => return Err(Response::text(404, "not found: try /healthz or /readyz")),
    };
    match request.method.as_str() {
        "GET" | "HEAD" => Ok(route),
        _ => Err(Response::text(405, "method not allowed: use GET or HEAD").allow("GET, HEAD")),
    }
}

/// Asks the engine whether it answers; Err: one line saying why not.
pub trait EngineProbe {
    fn probe(&self) -> impl Future<Output = Result<(), String>>;
}

/// The real probe: one bounded ping of the command's engine.
#[derive(Clone)]
pub struct PingProbe {
    pub endpoint: Endpoint,
    pub pinger: BollardPinger,
}

impl EngineProbe for PingProbe {
    async fn probe(&self) -> Result<(), String> {
        let report = ping_with_retry(
            &self.pinger,
            &self.endpoint,
            RetryPolicy::once(PING_TIMEOUT),
        )
        .await;
        match report.failure {
            None if report.answered() => Ok(()),
            Some(failure) => Err(format!(
                "{} did not answer: {}",
                self.endpoint,
                with_deadline(failure, PING_TIMEOUT)
            )),
            None => Err(format!("{} did not answer", self.endpoint)),
        }
    }
}

/// The answer to a routed request.
pub async fn answer(
    route: Route,
    state: &HealthState,
    probe: Option<&impl EngineProbe>,
) -> Response {
    let command = match state.command() {
        CommandState::NotStarted => Err("command not started"),
        CommandState::Running => Ok(()),
        CommandState::Exited => Err("command exited"),
    };
    match (route, command) {
        (_, Err(reason)) => Response::text(503, reason),
        (Route::Readyz, Ok(())) => Response::text(200, "ready"),
        (Route::Healthz, Ok(())) => match probe {
            None => Response::text(200, "ok"),
            Some(probe) => match probe.probe().await {
                Ok(()) => Response::text(200, "ok"),
                Err(reason) => Response::text(503, &format!("engine: {reason}")),
            },
        },
    }
}

async fn respond(request: &Request, state: &HealthState, probe: Option<&PingProbe>) -> Response {
    let response = match route(request) {
        Ok(route) => answer(route, state, probe).await,
        Err(response) => response,
    };
    if request.method == "HEAD" {
        response.without_body()
    } else {
        response
    }
}

/// A plain-text response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    allow: Option<&'static str>,
    /// HEAD: headers as for GET, no body.
    head_only: bool,
}

impl Response {
    /// `line` becomes the body, on one line.
    pub fn text(status: u16, line: &str) -> Response {
        let mut body: String = line
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        body.push('\n');
        Response {
            status,
            body,
            allow: None,
            head_only: false,
        }
    }

    fn allow(mut self, methods: &'static str) -> Response {
        self.allow = Some(methods);
        self
    }

    fn without_body(mut self) -> Response {
        self.head_only = true;
        self
    }

    pub fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "Unknown",
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.reason(),
            self.body.len()
        );
        if let Some(allow) = self.allow {
            out.push_str(&format!("Allow: {allow}\r\n"));
        }
        out.push_str("\r\n");
        if !self.head_only {
            out.push_str(&self.body);
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Result<Request, Response> {
        parse_request(text.as_bytes())
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("0.0.0.0:9385"),
            Ok("0.0.0.0:9385".parse().unwrap())
        );
        assert_eq!(parse_addr(":9385"), Ok("0.0.0.0:9385".parse().unwrap()));
        assert_eq!(parse_addr("[::]:80"), Ok("[::]:80".parse().unwrap()));
        assert!(parse_addr("localhost:9385")
            .unwrap_err()
            .contains("IP:PORT"));
        assert!(parse_addr("0.0.0.0").is_err());
        assert!(parse_addr("0.0.0.0:99999").is_err());
    }

    #[test]
    fn request_lines() {
        assert_eq!(
            request("GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Request {
                method: "GET".into(),
                path: "/healthz".into()
            })
        );
        assert_eq!(
            request("HEAD /readyz HTTP/1.0\n\n").unwrap().path,
            "/readyz"
        );
        for bad in [
            "",
            "GET\r\n\r\n",
            "GET /healthz\r\n\r\n",
            "GET  /healthz HTTP/1.1\r\n",
            "get /healthz HTTP/1.1\r\n",
            "GET healthz HTTP/1.1\r\n",
            "GET /healthz HTTP/1.1 extra\r\n",
            "\u{ff}GET / HTTP/1.1\r\n",
        ] {
            assert_eq!(request(bad).unwrap_err().status, 400, "{bad:?}");
        }
        assert_eq!(request("GET / HTTP/2.0\r\n\r\n").unwrap_err().status, 505);
        assert!(head_complete(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(head_complete(b"GET / HTTP/1.0\n\n"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
    }

    #[test]
    fn routing() {
        let req = |method: &str, path: &str| Request {
            method: method.into(),
            path: path.into(),
        };
        assert_eq!(route(&req("GET", "/healthz")), Ok(Route::Healthz));
        assert_eq!(route(&req("HEAD", "/readyz")), Ok(Route::Readyz));
        assert_eq!(route(&req("GET", "/")).unwrap_err().status, 404);
        assert_eq!(route(&req("GET", "/healthz/x")).unwrap_err().status, 404);
        let not_allowed = route(&req("POST", "/healthz")).unwrap_err();
        assert_eq!(not_allowed.status, 405);
        let bytes = String::from_utf8(not_allowed.to_bytes()).unwrap();
        assert!(bytes.contains("\r\nAllow: GET, HEAD\r\n"), "{bytes}");
    }

    #[test]
    fn responses_are_complete_and_one_line() {
        let r = Response::text(503, "engine: x did not answer:\nreason");
        assert_eq!(r.body, "engine: x did not answer: reason\n");
        let bytes = String::from_utf8(r.to_bytes()).unwrap();
        assert!(
            bytes.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{bytes}"
        );
        assert!(bytes.contains(&format!("Content-Length: {}\r\n", r.body.len())));
        assert!(bytes.contains("Connection: close\r\n"));
        assert!(bytes.ends_with("\r\n\r\nengine: x did not answer: reason\n"));
        let head = String::from_utf8(Response::text(200, "ok").without_body().to_bytes()).unwrap();
        assert!(
            head.ends_with(
                "Content-Length: 3\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
            ),
            "{head}"
        );
    }

    struct FakeProbe(Result<(), String>);

    impl EngineProbe for FakeProbe {
        async fn probe(&self) -> Result<(), String> {
            self.0.clone()
        }
    }

    #[tokio::test]
    async fn health_and_readiness_follow_the_command_and_the_engine() {
        let state = HealthState::default();
        let up = FakeProbe(Ok(()));
        let down = FakeProbe(Err("unix:///s did not answer: refused".into()));
        let none: Option<&FakeProbe> = None;

        let r = answer(Route::Healthz, &state, Some(&up)).await;
        assert_eq!((r.status, r.body.as_str()), (503, "command not started\n"));
        assert_eq!(answer(Route::Readyz, &state, none).await.status, 503);

        state.command_started();
        let r = answer(Route::Healthz, &state, Some(&up)).await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
        assert_eq!(answer(Route::Healthz, &state, none).await.status, 200);
        let r = answer(Route::Healthz, &state, Some(&down)).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "engine: unix:///s did not answer: refused\n");
        // Readiness is about the command; the engine was ready at start.
        assert_eq!(answer(Route::Readyz, &state, Some(&down)).await.status, 200);

        state.command_exited();
        let r = answer(Route::Healthz, &state, Some(&up)).await;
        assert_eq!((r.status, r.body.as_str()), (503, "command exited\n"));
        assert_eq!(answer(Route::Readyz, &state, none).await.status, 503);
    }

    #[tokio::test]
    async fn serves_over_tcp_with_bounds() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let state = HealthState::default();
                state.command_started();
                tokio::task::spawn_local(serve(listener, state, None));

                let ask = |raw: Vec<u8>| async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.write_all(&raw).await.unwrap();
                    let mut out = String::new();
                    s.read_to_string(&mut out).await.unwrap();
                    out
                };
                let ok = ask(b"GET /readyz HTTP/1.0\r\n\r\n".to_vec()).await;
                assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
                assert!(ok.ends_with("\r\n\r\nready\n"), "{ok}");
                let big =
                    ask([b"GET /healthz HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 9000]].concat()).await;
                assert!(big.starts_with("HTTP/1.1 431 "), "{big}");
                let missing = ask(b"GET /metrics HTTP/1.1\r\n\r\n".to_vec()).await;
                assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
            })
            .await;
    }
}
