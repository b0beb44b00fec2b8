//! An optional HTTP health endpoint (BERTH_HEALTH_ADDR), for orchestrators
//! that probe over the network rather than with `HEALTHCHECK CMD`.
//!
//! - `GET /healthz`: 200 `ok` when the command runs and, when a Docker mode is
//!   active, the engine answers a ping; else 503 with one line saying why
//!   (`command exited`, `engine: unix:///... did not answer: <diagnosis>`).
//! - `GET /readyz`: 200 once the command has started (after the Docker
//!   set-up, so the engine was ready); 503 before and after.
//! - HEAD is GET without a body; other paths 404, other methods 405; bad
//!   heads 400, 431 (too large) or 505; a head not complete within
//!   [`READ_TIMEOUT`] 408. Every 503 says `Retry-After: 1`.
//!
//! ## Probes are not engine load
//!
//! The engine ping behind /healthz is shared ([`engine_check`]): at most one
//! in flight, its result reused for [`REUSE`] (1 s), so any number of
//! requests costs the engine about one ping a second, and none while nobody
//! asks.
//!
//! ## Holding load
//!
//! At most [`MAX_CONNECTIONS`] connections are served at once. The next
//! [`MAX_REFUSING`] get their request read and a `503 busy` with
//! `Retry-After: 1` and `Connection: close`; beyond those berth stops
//! accepting until a slot frees, so new connections wait in the kernel's
//! accept queue (backlog 1024) rather than being reset. Every connection
//! berth ends after a response is half-closed and drained for up to
//! [`LINGER`] (at most [`MAX_CLOSING`] at once), so unread bytes (a body, a
//! pipelined request) do not turn the close into a reset that destroys the
//! answer on its way. After a busy spell, once no connection has been open
//! for [`QUIET`], berth hands the heap's free pages back
//! (`malloc_trim`), so its resident set returns to its idle size.
//!
//! Connections are persistent (HTTP/1.1 keep-alive, HTTP/1.0 with
//! `Connection: keep-alive`) for up to [`MAX_REQUESTS_PER_CONNECTION`]
//! requests, closed after [`IDLE_TIMEOUT`] without a request. Probes
//! (kubelet, `curl` in a HEALTHCHECK) open a connection per probe and are
//! served the same either way; load comes from clients that reuse
//! connections (monitors, load balancers, a misconfigured poller), and with
//! `Connection: close` each of their requests would cost an accept and a
//! close, berth closing first, which leaves a TIME_WAIT socket in the
//! container's network namespace for 60 s per request (60,000 at 1,000
//! requests a second). Pipelined requests are answered in order.
//!
//! ## Why not hyper's server
//!
//! hyper is linked (bollard's client), and its `server`/`http1` code is
//! compiled in already. Serving with it was measured: the stripped binary
//! grows by 31,584 bytes (4,170,248 -> 4,201,832; cargo bloat: berth +10.4
//! KiB, hyper +6.5 KiB, http +3.4 KiB of .text), each connection holds
//! hyper's read buffer (8 KiB to start) and write buffer, a slow client gets
//! its connection closed without the 408, and the admission tiers, the
//! shared ping and the lingering close would still be written here. What
//! hyper's server would add on top (chunked bodies, upgrades, HTTP/2) a
//! probe endpoint never uses. So this is a small loop around httparse
//! (hyper's own parser) with a read buffer of at most [`MAX_HEAD`] bytes,
//! grown 512 bytes at a time: a probe's head fits in the first.
//!
//! Runs as local tasks on berth's current-thread runtime (state shared
//! through `Rc`), next to the reaper.

mod engine_check;
mod request;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::docker::client::endpoint::Endpoint;
use crate::docker::client::ping::BollardPinger;
use crate::host::HostFacts;
use crate::init::runner::SupervisedRunner;

pub use engine_check::{EngineProbe, PingProbe, SharedVerdict, PING_TIMEOUT, REUSE};
pub use request::{
    check_head_properties, parse_head, route, Method, Parsed, Persistence, RequestHead, Response,
    Route, MAX_HEAD,
};

/// Connections served at once (reading, answering, or idle between requests).
pub const MAX_CONNECTIONS: usize = 128;
/// Connections past [`MAX_CONNECTIONS`] answered `503 busy` at once; more
/// wait in the kernel's accept queue.
pub const MAX_REFUSING: usize = 128;
/// Connections being closed (half-closed, drained) at once; past this a
/// connection is closed without draining.
pub const MAX_CLOSING: usize = 256;
/// How long a client may take to send a request head, from its connection
/// (the first request) or from its first byte (later ones).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a persistent connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to take a response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Requests on one connection; the last answer says `Connection: close`.
pub const MAX_REQUESTS_PER_CONNECTION: u32 = 1000;
/// How long a closing connection is drained for the client's FIN.
pub const LINGER: Duration = Duration::from_secs(1);
/// No connection for this long ends a busy spell: the heap is trimmed.
pub const QUIET: Duration = Duration::from_secs(1);
/// Bytes read at a time into a connection's head buffer.
const READ_CHUNK: usize = 512;

/// The endpoint's bounds; [`Limits::default`] is the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once ([`MAX_CONNECTIONS`]).
    pub connections: usize,
    /// Connections answered `503 busy` at once ([`MAX_REFUSING`]).
    pub refusing: usize,
    /// Connections drained while closing ([`MAX_CLOSING`]).
    pub closing: usize,
    /// Time for a request head ([`READ_TIMEOUT`]).
    pub read_timeout: Duration,
    /// Time between requests on a kept connection ([`IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// Time for a client to take a response ([`WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
    /// Requests per connection ([`MAX_REQUESTS_PER_CONNECTION`]).
    pub requests_per_connection: u32,
    /// Drain of a closing connection ([`LINGER`]).
    pub linger: Duration,
    /// Time without a connection that ends a busy spell ([`QUIET`]).
    pub quiet: Duration,
    /// How long an engine verdict is reused ([`REUSE`]).
    pub reuse: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: MAX_CONNECTIONS,
            refusing: MAX_REFUSING,
            closing: MAX_CLOSING,
            read_timeout: READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            requests_per_connection: MAX_REQUESTS_PER_CONNECTION,
            linger: LINGER,
            quiet: QUIET,
            reuse: REUSE,
        }
    }
}

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
        pinger: BollardPinger::for_host(host, helpers),
        timeout: PING_TIMEOUT,
    });
    tokio::task::spawn_local(serve(listener, state.clone(), probe, Limits::default()));
    state
}

/// Which tier a connection was admitted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Serving,
    Refusing,
    Closing,
}

/// Open connections per tier, and what waits on them.
struct Gauges {
    open: [Cell<usize>; 3],
    max: [usize; 3],
    /// A slot freed: the accept loop may go on.
    freed: Notify,
    /// No connection is open.
    idle: Notify,
    accepted: Cell<u64>,
    /// Connections answered `503 busy` since the last quiet spell.
    refused: Cell<u64>,
    /// Quiet-spell trims (code and heap pages) so far.
    trims: Cell<u64>,
}

impl Gauges {
    fn new(limits: &Limits) -> Rc<Gauges> {
        Rc::new(Gauges {
            open: Default::default(),
            max: [limits.connections, limits.refusing, limits.closing],
            freed: Notify::new(),
            idle: Notify::new(),
            accepted: Cell::new(0),
            refused: Cell::new(0),
            trims: Cell::new(0),
        })
    }

    fn has_room(&self, tier: Tier) -> bool {
        self.open[tier as usize].get() < self.max[tier as usize]
    }

    fn take(self: &Rc<Self>, tier: Tier) -> Option<Slot> {
        self.has_room(tier).then(|| {
            let open = &self.open[tier as usize];
            open.set(open.get() + 1);
            Slot {
                gauges: self.clone(),
                tier,
            }
        })
    }

    fn total(&self) -> usize {
        self.open.iter().map(Cell::get).sum()
    }
}

/// One open connection's place in its tier; freed on drop.
struct Slot {
    gauges: Rc<Gauges>,
    tier: Tier,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let open = &self.gauges.open[self.tier as usize];
        open.set(open.get() - 1);
        self.gauges.freed.notify_one();
        if self.gauges.total() == 0 {
            self.gauges.idle.notify_one();
        }
    }
}

/// What every connection task shares.
struct Context<E> {
    state: HealthState,
    engine: Option<Rc<SharedVerdict<E>>>,
    gauges: Rc<Gauges>,
    limits: Limits,
}

/// Accepts connections until berth exits.
pub async fn serve<E: EngineProbe + 'static>(
    listener: TcpListener,
    state: HealthState,
    probe: Option<E>,
    limits: Limits,
) {
    let cx = Rc::new(Context {
        state,
        engine: probe.map(|probe| SharedVerdict::new(probe, limits.reuse)),
        gauges: Gauges::new(&limits),
        limits,
    });
    serve_with(listener, cx).await
}

async fn serve_with<E: EngineProbe + 'static>(listener: TcpListener, cx: Rc<Context<E>>) {
    let (gauges, limits) = (cx.gauges.clone(), cx.limits);
    tokio::task::spawn_local(trim_when_quiet(gauges.clone(), limits.quiet));
    loop {
        // Room first: with both tiers full, connections wait in the
        // kernel's accept queue, unanswered but not refused.
        loop {
            let freed = gauges.freed.notified();
            if gauges.has_room(Tier::Serving) || gauges.has_room(Tier::Refusing) {
                break;
            }
            freed.await;
        }
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::debug!(error = %err, "health endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        gauges.accepted.set(gauges.accepted.get() + 1);
        let slot = match gauges.take(Tier::Serving) {
            Some(slot) => slot,
            None => {
                // Only this loop takes slots, and it saw room before accepting.
                let Some(slot) = gauges.take(Tier::Refusing) else {
                    continue;
                };
                if gauges.refused.get() == 0 {
                    tracing::warn!(
                        connections = limits.connections,
                        "health endpoint busy: answering 503 with Retry-After to new connections"
                    );
                }
                gauges.refused.set(gauges.refused.get() + 1);
                slot
            }
        };
        tokio::task::spawn_local(connection(stream, slot, cx.clone()));
    }
}

/// Once no connection has been open for `quiet` after some were, hands back
/// what the spell took: the code pages it faulted in (the start-up trim's
/// MADV_DONTNEED of berth's clean text; the next request faults them back
/// from the page cache) and the heap's free pages.
async fn trim_when_quiet(gauges: Rc<Gauges>, quiet: Duration) {
    let mut trimmed_at = 0;
    loop {
        gauges.idle.notified().await;
        let seen = gauges.accepted.get();
        if seen == trimmed_at {
            continue;
        }
        tokio::time::sleep(quiet).await;
        if gauges.total() > 0 || gauges.accepted.get() != seen {
            // Busy again; the next idle moment tries again.
            continue;
        }
        let started = std::time::Instant::now();
        crate::init::memory::release_startup_text();
        crate::init::memory::release_free_heap();
        gauges.trims.set(gauges.trims.get() + 1);
        trimmed_at = seen;
        let refused = gauges.refused.replace(0);
        tracing::debug!(
            connections = seen,
            micros = started.elapsed().as_micros(),
            "health endpoint quiet: code and free heap pages released"
        );
        if refused > 0 {
            tracing::info!(refused, "health endpoint quiet again");
        }
    }
}

/// The next step on a connection.
enum Next {
    Head(RequestHead),
    /// An answer that ends the connection (a bad head, 408).
    Fail(Response),
    /// The client left, or stayed idle past the idle timeout: nothing to answer.
    Gone,
}

async fn connection<E: EngineProbe + 'static>(
    mut stream: TcpStream,
    slot: Slot,
    cx: Rc<Context<E>>,
) {
    let limits = &cx.limits;
    // One write per response, but pipelined answers must not wait for ACKs.
    let _ = stream.set_nodelay(true);
    let refusing = slot.tier == Tier::Refusing;
    let mut pending = Vec::new();
    let mut answered = 0u32;
    // The first head is due READ_TIMEOUT after the connection.
    let mut deadline = Instant::now() + limits.read_timeout;
    loop {
        let first = answered == 0;
        let (response, persistence) =
            match next_head(&mut stream, &mut pending, deadline, first, limits).await {
                Next::Gone => return,
                Next::Fail(response) => (response, Persistence::Close),
                Next::Head(head) => {
                    answered += 1;
                    let response = if refusing {
                        Response::text(
                            503,
                            &format!(
                                "busy: {} connections are being served; ask again in a second",
                                limits.connections
                            ),
                        )
                    } else {
                        respond(&head, &cx).await
                    };
                    let keep = !refusing
                        && head.keep_alive
                        && !head.has_body
                        && answered < limits.requests_per_connection;
                    let persistence = match (keep, head.http10) {
                        (false, _) => Persistence::Close,
                        (true, false) => Persistence::KeepAlive,
                        (true, true) => Persistence::KeepAlive10,
                    };
                    match head.method {
                        Method::Head => (response.without_body(), persistence),
                        _ => (response, persistence),
                    }
                }
            };
        let bytes = response.to_bytes(persistence);
        match tokio::time::timeout(limits.write_timeout, stream.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            // The client does not take its answer (or left): nothing to save.
            _ => return,
        }
        if persistence == Persistence::Close {
            break;
        }
        deadline = Instant::now() + limits.idle_timeout;
    }
    // The answer is sent; the connection no longer holds a serving slot.
    let Some(closing) = cx.gauges.take(Tier::Closing) else {
        return;
    };
    drop(slot);
    linger(stream, limits.linger).await;
    drop(closing);
}

/// Reads until a complete head starts `pending` (which may already hold
/// pipelined bytes), or the deadline: `deadline` while nothing of it has
/// arrived (the connection's for the first request, the idle timeout's for
/// later ones), then at most `read_timeout` from its first byte.
async fn next_head(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
    mut deadline: Instant,
    first: bool,
    limits: &Limits,
) -> Next {
    let mut started = !pending.is_empty();
    if started && !first {
        deadline = Instant::now() + limits.read_timeout;
    }
    loop {
        if started {
            match parse_head(pending) {
                Ok(Parsed::Complete { head, len }) => {
                    pending.drain(..len);
                    return Next::Head(head);
                }
                Ok(Parsed::Partial) => {}
                Err(response) => return Next::Fail(response),
            }
        }
        let start = pending.len();
        // parse_head answers 431 once MAX_HEAD bytes are pending, so there is room.
        pending.resize(start + (MAX_HEAD - start).min(READ_CHUNK), 0);
        let read = tokio::time::timeout_at(deadline, stream.read(&mut pending[start..])).await;
        let n = match read {
            Ok(Ok(n)) => n,
            _ => 0,
        };
        pending.truncate(start + n);
        match read {
            Err(_) if started || first => {
                return Next::Fail(Response::text(408, "request head not received in time"))
            }
            // An idle persistent connection timing out, or a reset.
            Err(_) | Ok(Err(_)) => return Next::Gone,
            Ok(Ok(0)) if started => {
                return Next::Fail(Response::text(
                    400,
                    "connection closed inside the request head",
                ))
            }
            Ok(Ok(0)) => return Next::Gone,
            Ok(Ok(_)) => {
                if !started && !first {
                    deadline = Instant::now() + limits.read_timeout;
                }
                started = true;
            }
        }
    }
}

/// Half-closes after the last response and drains what the client still
/// sends until it closes or `linger` passes: closing a socket with unread
/// bytes sends a reset, which can destroy the response in flight.
async fn linger(mut stream: TcpStream, linger: Duration) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + linger;
    let mut sink = [0u8; 256];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

async fn respond<E: EngineProbe + 'static>(head: &RequestHead, cx: &Context<E>) -> Response {
    match route(head) {
        Ok(route) => answer(route, &cx.state, cx.engine.as_ref()).await,
        Err(response) => response,
    }
}

/// The answer to a routed request.
pub async fn answer<E: EngineProbe + 'static>(
    route: Route,
    state: &HealthState,
    engine: Option<&Rc<SharedVerdict<E>>>,
) -> Response {
    let command = match state.command() {
        CommandState::NotStarted => Err("command not started"),
        CommandState::Running => Ok(()),
        CommandState::Exited => Err("command exited"),
    };
    match (route, command) {
        (_, Err(reason)) => Response::text(503, reason),
        (Route::Readyz, Ok(())) => Response::text(200, "ready"),
        (Route::Healthz, Ok(())) => match engine {
            None => Response::text(200, "ok"),
            Some(engine) => match engine.verdict().await {
                Ok(()) => Response::text(200, "ok"),
                Err(reason) => Response::text(503, &format!("engine: {reason}")),
            },
        },
    }
}

#[cfg(test)]
mod tests;
