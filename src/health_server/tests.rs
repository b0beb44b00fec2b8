//! The endpoint over real sockets: a server on its own thread (a
//! current-thread runtime and LocalSet, as in berth), clients on plain
//! blocking sockets. Nothing here asserts a speed; short limits only make
//! the bounds show quickly.

use super::*;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream as StdStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

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

/// An engine the test switches on and off; counts its pings.
struct FakeEngine {
    up: Arc<AtomicBool>,
    pings: Arc<AtomicU32>,
    delay: Duration,
}

impl EngineProbe for FakeEngine {
    async fn probe(&self) -> Result<(), String> {
        tokio::time::sleep(self.delay).await;
        self.pings.fetch_add(1, Ordering::SeqCst);
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("unix:///s did not answer: connection refused".into())
        }
    }
}

struct Server {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    pings: Arc<AtomicU32>,
}

impl Server {
    /// Serves on 127.0.0.1 until the test process ends; the command runs.
    fn start(limits: Limits, ping_delay: Duration) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let pings = Arc::new(AtomicU32::new(0));
        let engine = FakeEngine {
            up: up.clone(),
            pings: pings.clone(),
            delay: ping_delay,
        };
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                let state = HealthState::default();
                state.command_started();
                serve(listener, state, Some(engine), limits).await;
            });
        });
        Server { addr, up, pings }
    }

    fn connect(&self) -> Client {
        let stream = StdStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Client {
            stream,
            buf: Vec::new(),
        }
    }
}

/// One parsed response.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Client {
    stream: StdStream,
    buf: Vec<u8>,
}

impl Client {
    fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("write");
    }

    /// The next response (`head`: to a HEAD request, no body); Err: the
    /// connection ended, or was reset, before a whole one arrived.
    fn answer(&mut self, head: bool) -> Result<Answer, String> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = parsed.parse(&self.buf) {
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().expect("length"))
                    .expect("Content-Length");
                let body_len = if head { 0 } else { length };
                if self.buf.len() >= len + body_len {
                    let answer = Answer {
                        status: parsed.code.expect("status"),
                        headers,
                        body: String::from_utf8_lossy(&self.buf[len..len + body_len]).into(),
                    };
                    self.buf.drain(..len + body_len);
                    return Ok(answer);
                }
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(format!("closed after {:?}", self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(err) => return Err(format!("{err} after {:?}", self.buf)),
            }
        }
    }

    /// The server closed the connection cleanly (EOF, not a reset).
    fn closed(&mut self) -> Result<(), String> {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() && self.buf.is_empty() => Ok(()),
            Ok(_) => Err(format!("unexpected bytes {rest:?}")),
            Err(err) => Err(err.to_string()),
        }
    }
}

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

fn quick_limits() -> Limits {
    Limits {
        read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(500),
        linger: Duration::from_millis(500),
        ..Limits::default()
    }
}

#[test]
fn serves_probes_and_answers_bad_requests() {
    let server = Server::start(quick_limits(), Duration::ZERO);
    let ask = |raw: &[u8]| {
        let mut c = server.connect();
        c.send(raw);
        let answer = c.answer(false).expect("an answer");
        (answer, c)
    };
    let (ok, _) = ask(b"GET /readyz HTTP/1.0\r\n\r\n");
    assert_eq!((ok.status, ok.body.as_str()), (200, "ready\n"));
    assert_eq!(ok.header("Connection"), Some("close"));
    let (ok, _) = ask(GET_HEALTHZ);
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok\n"));
    for (raw, status) in [
        (
            [b"GET /healthz HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 9000]].concat(),
            431,
        ),
        (b"GET /metrics HTTP/1.1\r\n\r\n".to_vec(), 404),
        (b"DELETE /healthz HTTP/1.1\r\n\r\n".to_vec(), 405),
        (b"GET healthz HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"BR(KEN / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/3.0\r\n\r\n".to_vec(), 505),
    ] {
        let (answer, mut c) = ask(&raw);
        assert_eq!(answer.status, status, "{answer:?}");
        if status != 404 && status != 405 {
            // A bad head ends the connection, cleanly.
            assert_eq!(answer.header("Connection"), Some("close"));
            assert_eq!(c.closed(), Ok(()));
        }
    }
}

#[test]
fn keep_alive_answers_several_requests_on_one_connection() {
    let limits = Limits {
        requests_per_connection: 5,
        ..quick_limits()
    };
    let server = Server::start(limits, Duration::ZERO);
    let mut c = server.connect();
    for _ in 0..3 {
        c.send(GET_HEALTHZ);
        let answer = c.answer(false).expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("Connection"), None);
    }
    // Pipelined: two in one write, answered in order.
    c.send(b"HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = c.answer(true).expect("HEAD answer");
    assert_eq!(
        (head.status, head.header("Content-Length")),
        (200, Some("6"))
    );
    // The fifth request is the last one this connection takes.
    let last = c.answer(false).expect("404 answer");
    assert_eq!(
        (last.status, last.header("Connection")),
        (404, Some("close"))
    );
    assert_eq!(c.closed(), Ok(()));

    // HTTP/1.0 keeps the connection only when asked, and says so.
    let mut c = server.connect();
    for _ in 0..2 {
        c.send(b"GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let answer = c.answer(false).expect("an answer");
        assert_eq!(answer.header("Connection"), Some("keep-alive"));
    }
    // An idle persistent connection is closed after the idle timeout.
    assert_eq!(c.closed(), Ok(()));
}

#[test]
fn two_hundred_concurrent_requests_all_get_a_status() {
    let limits = Limits {
        connections: 16,
        refusing: 16,
        ..Limits::default()
    };
    let server = Arc::new(Server::start(limits, Duration::from_millis(50)));
    let clients = 200;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (server, barrier) = (server.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut c = server.connect();
                // Half ask to close, half would keep the connection.
                let raw: &[u8] = if i % 2 == 0 {
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                } else {
                    GET_HEALTHZ
                };
                c.send(raw);
                let answer = c.answer(false)?;
                Ok::<_, String>((
                    answer.status,
                    answer.header("Retry-After").map(String::from),
                ))
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for handle in handles {
        let (status, retry_after) = handle.join().expect("client thread").expect("an answer");
        assert!(status == 200 || status == 503, "status {status}");
        if status == 503 {
            assert_eq!(retry_after.as_deref(), Some("1"));
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    eprintln!("200 concurrent requests: {statuses:?}");
    assert!(statuses.get(&200).is_some_and(|n| *n >= 16), "{statuses:?}");
    // Shared: concurrent requests waited for one ping.
    let pings = server.pings.load(Ordering::SeqCst);
    assert!(pings <= 2, "{pings} pings");
}

#[test]
fn the_engine_going_away_turns_healthz_503_after_the_reuse_window() {
    // A long window: the cached verdict answers, the engine is not asked.
    let server = Server::start(
        Limits {
            reuse: Duration::from_secs(3600),
            ..quick_limits()
        },
        Duration::ZERO,
    );
    let healthz = |server: &Server| {
        let mut c = server.connect();
        c.send(GET_HEALTHZ);
        c.answer(false).expect("an answer")
    };
    assert_eq!(healthz(&server).status, 200);
    server.up.store(false, Ordering::SeqCst);
    assert_eq!(healthz(&server).status, 200);
    assert_eq!(server.pings.load(Ordering::SeqCst), 1);

    // A short one: once it has passed, the next request pings and says why.
    let reuse = Duration::from_millis(200);
    let server = Server::start(
        Limits {
            reuse,
            ..quick_limits()
        },
        Duration::ZERO,
    );
    assert_eq!(healthz(&server).status, 200);
    server.up.store(false, Ordering::SeqCst);
    thread::sleep(reuse + Duration::from_millis(50));
    let down = healthz(&server);
    assert_eq!(down.status, 503);
    assert_eq!(
        down.body,
        "engine: unix:///s did not answer: connection refused\n"
    );
    assert_eq!(down.header("Retry-After"), Some("1"));
    assert_eq!(server.pings.load(Ordering::SeqCst), 2);
}

#[test]
fn a_slow_client_loses_its_slot_at_the_read_timeout() {
    let server = Arc::new(Server::start(
        Limits {
            connections: 1,
            refusing: 1,
            read_timeout: Duration::from_millis(300),
            linger: Duration::from_secs(30),
            ..Limits::default()
        },
        Duration::ZERO,
    ));
    // Slowloris: a byte every 50 ms, never the end of the head.
    let mut slow = server.connect();
    slow.send(b"GET /healthz HTTP/1.1\r\n");
    let dribble = slow.stream.try_clone().expect("clone");
    let dribbler = thread::spawn(move || {
        let mut dribble = dribble;
        while dribble.write_all(b"X").is_ok() {
            thread::sleep(Duration::from_millis(50));
        }
    });
    // While it holds the one slot, the next connection is told busy.
    let mut busy = server.connect();
    busy.send(GET_HEALTHZ);
    let answer = busy.answer(false).expect("busy answer");
    assert_eq!(answer.status, 503);
    assert!(answer.body.starts_with("busy: "), "{answer:?}");
    assert_eq!(answer.header("Connection"), Some("close"));
    assert_eq!(busy.closed(), Ok(()));

    let timed_out = slow.answer(false).expect("408");
    assert_eq!(timed_out.status, 408);
    // The slow client still sends (and berth drains it for up to 30 s), but
    // its slot is free: the next client is served.
    let mut next = server.connect();
    next.send(GET_HEALTHZ);
    assert_eq!(next.answer(false).expect("answer").status, 200);
    slow.stream.shutdown(Shutdown::Both).ok();
    dribbler.join().expect("dribbler");
}

#[test]
fn a_body_left_unread_does_not_reset_the_answer() {
    let server = Server::start(quick_limits(), Duration::ZERO);
    let mut c = server.connect();
    // Far more than berth reads: without the drain the close would reset.
    let body = vec![b'x'; 1 << 20];
    let head = format!(
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut writer = c.stream.try_clone().expect("clone");
    let sender = thread::spawn(move || {
        writer.write_all(head.as_bytes())?;
        writer.write_all(&body)
    });
    let answer = c.answer(false).expect("an answer, not a reset");
    assert_eq!(
        (answer.status, answer.header("Connection")),
        (405, Some("close"))
    );
    sender.join().expect("sender").expect("the body was taken");
    assert_eq!(c.closed(), Ok(()));
}

/// The heap is trimmed once per busy spell, after it, and not while idle.
#[tokio::test(start_paused = true)]
async fn the_heap_is_trimmed_after_a_busy_spell() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let limits = Limits::default();
            let gauges = Gauges::new(&limits);
            tokio::task::spawn_local(trim_when_quiet(gauges.clone(), limits.quiet));
            tokio::time::sleep(limits.quiet * 3).await;
            assert_eq!(gauges.trims.get(), 0, "nothing happened");
            for spell in 0..2 {
                let slots: Vec<_> = (0..50)
                    .map(|_| {
                        gauges.accepted.set(gauges.accepted.get() + 1);
                        gauges.take(Tier::Serving).expect("slot")
                    })
                    .collect();
                tokio::time::sleep(limits.quiet * 2).await;
                assert_eq!(gauges.trims.get(), spell, "still busy");
                drop(slots);
                tokio::time::sleep(limits.quiet / 2).await;
                assert_eq!(gauges.trims.get(), spell, "not quiet long enough");
                tokio::time::sleep(limits.quiet).await;
                assert_eq!(gauges.trims.get(), spell + 1, "quiet");
            }
            assert_eq!(gauges.trims.get(), 2);
            tokio::time::sleep(limits.quiet * 3).await;
            assert_eq!(gauges.trims.get(), 2);
        })
        .await;
}

/// The real accept loop lets the endpoint go quiet once its clients have
/// left (it holds no slot itself while it waits for the next connection).
#[tokio::test]
async fn the_endpoint_goes_quiet_when_its_clients_leave() {
    use tokio::io::AsyncReadExt as _;
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let limits = Limits {
                quiet: Duration::from_millis(50),
                linger: Duration::from_millis(50),
                ..Limits::default()
            };
            let cx = Rc::new(Context {
                state: HealthState::default(),
                engine: None::<Rc<SharedVerdict<Fixed>>>,
                gauges: Gauges::new(&limits),
                limits,
            });
            cx.state.command_started();
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::task::spawn_local(serve_with(listener, cx.clone()));
            for spell in 1..=2 {
                for _ in 0..5 {
                    let mut c = TcpStream::connect(addr).await.expect("connect");
                    c.write_all(b"GET /readyz HTTP/1.0\r\n\r\n")
                        .await
                        .expect("write");
                    let mut answer = String::new();
                    c.read_to_string(&mut answer).await.expect("read");
                    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
                }
                let deadline = Instant::now() + Duration::from_secs(20);
                while cx.gauges.trims.get() < spell && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert_eq!(cx.gauges.trims.get(), spell);
            }
        })
        .await;
}

/// An engine whose verdict is fixed.
struct Fixed(Result<(), String>);

impl EngineProbe for Fixed {
    async fn probe(&self) -> Result<(), String> {
        self.0.clone()
    }
}

#[tokio::test]
async fn health_and_readiness_follow_the_command_and_the_engine() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let state = HealthState::default();
            let up = SharedVerdict::new(Fixed(Ok(())), REUSE);
            let down = SharedVerdict::new(
                Fixed(Err("unix:///s did not answer: refused".into())),
                REUSE,
            );
            let none: Option<&Rc<SharedVerdict<Fixed>>> = None;

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
        })
        .await;
}
