//! Request heads in, responses out: pure functions over bytes, unit-tested
//! here and fuzzed by `fuzz/fuzz_targets/health_request.rs`
//! ([`check_head_properties`]).
//!
//! Heads are parsed with httparse (hyper's parser, already linked), with the
//! endpoint's own bounds on top: at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] header fields. Request bodies are never read: a request
//! that announces one is answered and its connection closed (RFC 9112 §9.6
//! lets a server close after any response; the body would otherwise have to
//! be skipped to find the next request).

use std::fmt::Write as _;

/// The longest request head accepted, in bytes; a probe's is under 200.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most header fields accepted in one head (curl sends 3, kubelet 4).
pub const MAX_HEADERS: usize = 32;

/// The methods the endpoint tells apart; the others are answered 405.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other token (methods are case-sensitive, RFC 9110 §9.1: `get` is one).
    Other,
}

/// What the client asked, from one complete head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The request target up to `?` or `#`.
    pub path: String,
    /// The client offers to keep the connection: HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`
    /// (RFC 9112 §9.3).
    pub keep_alive: bool,
    /// HTTP/1.0: a kept connection must be announced (`Connection: keep-alive`).
    pub http10: bool,
    /// A body follows (`Content-Length` > 0 or any `Transfer-Encoding`).
    pub has_body: bool,
}

/// One step of reading a head from a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed; the buffer holds fewer than [`MAX_HEAD`].
    Partial,
    /// A head of `len` bytes starts the buffer; what follows is the next
    /// request's (pipelining).
    Complete { head: RequestHead, len: usize },
}

/// Parses the request head at the start of `buf`. Err: the answer to send
/// before closing (400 malformed, 431 too large, 505 not HTTP/1.x).
pub fn parse_head(buf: &[u8]) -> Result<Parsed, Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(Parsed::Partial),
        Ok(httparse::Status::Partial) => return Err(too_large()),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Response::text(
                431,
                &format!("too many header fields (limit {MAX_HEADERS})"),
            ))
        }
        Err(httparse::Error::Version) if names_another_version(buf) => {
            return Err(Response::text(505, "only HTTP/1.0 and HTTP/1.1"))
        }
        Err(err) => {
            return Err(Response::text(
                400,
                &format!("malformed request head: {err}"),
            ))
        }
    };
    if len > MAX_HEAD {
        return Err(too_large());
    }
    let bad = |why: &str| Err(Response::text(400, why));
    // httparse only returns Complete with all three set.
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return bad("malformed request line");
    };
    if !target.starts_with('/') {
        return bad("the request target must be a path, such as /healthz");
    }
    let http10 = version == 0;
    let mut connection = (false, false); // (close, keep-alive)
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for header in request.headers.iter() {
        let value = header.value;
        if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                connection.0 |= token.eq_ignore_ascii_case(b"close");
                connection.1 |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (parsed, content_length) {
                (None, _) => return bad("invalid Content-Length"),
                (Some(n), Some(seen)) if n != seen => return bad("conflicting Content-Length"),
                (Some(n), _) => content_length = Some(n),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(Parsed::Complete {
        head: RequestHead {
            method,
            path: path.to_owned(),
            keep_alive: if http10 {
                connection.1 && !connection.0
            } else {
                !connection.0
            },
            http10,
            has_body: chunked || content_length.is_some_and(|n| n > 0),
        },
        len,
    })
}

/// httparse says `Version` for any request line whose third part is not
/// HTTP/1.x (`GET /a b HTTP/1.1` too): 505 only when it is another HTTP version.
fn names_another_version(buf: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(buf);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    matches!(parts.as_slice(), [_, _, version] if version.starts_with(b"HTTP/"))
}

fn too_large() -> Response {
    Response::text(
        431,
        &format!("request head too large (limit {MAX_HEAD} bytes)"),
    )
}

/// What a path asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Readyz,
}

/// The route, or the 404/405 answer.
pub fn route(head: &RequestHead) -> Result<Route, Response> {
    let route = match head.path.as_str() {
        "/healthz" => Route::Healthz,
        "/readyz" => Route::Readyz,
        _ => return Err(Response::text(404, "not found: try /healthz or /readyz")),
    };
    match head.method {
        Method::Get | Method::Head => Ok(route),
        Method::Other => {
            Err(Response::text(405, "method not allowed: use GET or HEAD").allow("GET, HEAD"))
        }
    }
}

/// Whether the connection stays open after a response, and how it is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// `Connection: close`; berth closes after the response.
    Close,
    /// HTTP/1.1's default: no header needed.
    KeepAlive,
    /// HTTP/1.0 asked for it: `Connection: keep-alive`.
    KeepAlive10,
}

/// A plain-text response: one line of body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    allow: Option<&'static str>,
    /// Seconds, sent with every 503: when asking again can give another answer.
    pub retry_after: Option<u32>,
    /// HEAD: headers as for GET, no body.
    head_only: bool,
}

impl Response {
    /// `line` becomes the body, on one line. Every 503 carries `Retry-After: 1`.
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
            retry_after: (status == 503).then_some(1),
            head_only: false,
        }
    }

    pub(crate) fn allow(mut self, methods: &'static str) -> Response {
        self.allow = Some(methods);
        self
    }

    pub(crate) fn without_body(mut self) -> Response {
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

    /// The response on the wire, ending the connection or not as `persistence` says.
    pub fn to_bytes(&self, persistence: Persistence) -> Vec<u8> {
        let mut out = String::with_capacity(192 + self.body.len());
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            self.status,
            self.reason(),
            self.body.len()
        );
        match persistence {
            Persistence::Close => out.push_str("Connection: close\r\n"),
            Persistence::KeepAlive10 => out.push_str("Connection: keep-alive\r\n"),
            Persistence::KeepAlive => {}
        }
        if let Some(seconds) = self.retry_after {
            let _ = write!(out, "Retry-After: {seconds}\r\n");
        }
        if let Some(allow) = self.allow {
            let _ = write!(out, "Allow: {allow}\r\n");
        }
        out.push_str("\r\n");
        if !self.head_only {
            out.push_str(&self.body);
        }
        out.into_bytes()
    }
}

/// Properties of [`parse_head`] and [`Response::to_bytes`] for any input;
/// panics when one is broken (for the fuzz target and the smoke test).
pub fn check_head_properties(data: &[u8]) {
    match parse_head(data) {
        Ok(Parsed::Partial) => assert!(data.len() < MAX_HEAD, "partial past the limit"),
        Ok(Parsed::Complete { head, len }) => {
            assert!(len <= data.len() && len <= MAX_HEAD, "len {len}");
            assert!(head.path.starts_with('/'), "path {:?}", head.path);
            assert!(!head.path.contains(['?', '#']), "path {:?}", head.path);
            // The head alone parses the same: nothing after it was read.
            assert_eq!(
                parse_head(&data[..len]),
                Ok(Parsed::Complete {
                    head: head.clone(),
                    len
                })
            );
            if let Ok(route) = route(&head) {
                assert!(
                    matches!(head.method, Method::Get | Method::Head),
                    "{route:?}"
                );
            }
        }
        Err(response) => {
            assert!(
                matches!(response.status, 400 | 431 | 505),
                "{}",
                response.status
            );
            check_response(&response);
        }
    }
}

/// A response is one well-formed message whose Content-Length is its body.
fn check_response(response: &Response) {
    for persistence in [
        Persistence::Close,
        Persistence::KeepAlive,
        Persistence::KeepAlive10,
    ] {
        let bytes = response.to_bytes(persistence);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = parsed.parse(&bytes) else {
            panic!("not a response: {:?}", String::from_utf8_lossy(&bytes));
        };
        assert_eq!(parsed.code, Some(response.status));
        assert_eq!(bytes.len() - len, response.body.len());
        assert_eq!(response.body.matches('\n').count(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(text: &str) -> (RequestHead, usize) {
        match parse_head(text.as_bytes()) {
            Ok(Parsed::Complete { head, len }) => (head, len),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn status(text: &[u8]) -> u16 {
        match parse_head(text) {
            Err(response) => response.status,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
        }
    }

    #[test]
    fn probes_parse() {
        let (head, len) = complete("GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(len, 44);
        assert_eq!(
            head,
            RequestHead {
                method: Method::Get,
                path: "/healthz".into(),
                keep_alive: true,
                http10: false,
                has_body: false,
            }
        );
        // kubelet's probe: HTTP/1.1, Connection: close.
        let (head, _) = complete(
            "GET /readyz HTTP/1.1\r\nHost: 10.0.0.5:9385\r\nUser-Agent: kube-probe/1.30\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        );
        assert_eq!((head.path.as_str(), head.keep_alive), ("/readyz", false));
        // Bare LF line ends, as printf | nc sends them.
        let (head, _) = complete("HEAD /readyz HTTP/1.0\n\n");
        assert_eq!(head.method, Method::Head);
        assert!(head.http10 && !head.keep_alive);
        let (head, _) = complete("GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(head.http10 && head.keep_alive);
        let (head, _) = complete("GET /healthz HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n");
        assert!(!head.keep_alive);
    }

    #[test]
    fn partial_heads_wait_for_more() {
        for partial in [
            "",
            "G",
            "GET /healthz HTTP/1.1\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\n",
        ] {
            assert_eq!(
                parse_head(partial.as_bytes()),
                Ok(Parsed::Partial),
                "{partial:?}"
            );
        }
    }

    #[test]
    fn oversized_heads_are_431() {
        let mut head = b"GET /healthz HTTP/1.1\r\nX: ".to_vec();
        head.resize(MAX_HEAD, b'a');
        assert_eq!(status(&head), 431);
        // Complete, but past the limit.
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status(&head), 431);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            431
        );
        // Just under the limit is fine.
        let fits = format!(
            "GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD - 50)
        );
        assert!(matches!(
            parse_head(fits.as_bytes()),
            Ok(Parsed::Complete { .. })
        ));
    }

    #[test]
    fn bad_request_lines_are_400_or_505() {
        for bad in [
            "GET\r\n\r\n",
            "GET /healthz\r\n\r\n",
            "G(T /healthz HTTP/1.1\r\n\r\n",
            "GET /healthz HTTP/1.1 extra\r\n\r\n",
            "GET /hea lthz HTTP/1.1\r\n\r\n",
            "\u{ff}GET / HTTP/1.1\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert_eq!(status(bad.as_bytes()), 400, "{bad:?}");
        }
        // Bad paths: not origin-form.
        assert_eq!(status(b"GET healthz HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET http://x/healthz HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"OPTIONS * HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
    }

    #[test]
    fn bad_methods_and_paths_are_405_and_404() {
        let routed = |text: &str| route(&complete(text).0).map_err(|r| r.status);
        assert_eq!(routed("GET /healthz HTTP/1.1\r\n\r\n"), Ok(Route::Healthz));
        assert_eq!(routed("HEAD /readyz HTTP/1.1\r\n\r\n"), Ok(Route::Readyz));
        assert_eq!(routed("POST /healthz HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(routed("get /healthz HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(routed("GET / HTTP/1.1\r\n\r\n"), Err(404));
        assert_eq!(routed("GET /healthz/x HTTP/1.1\r\n\r\n"), Err(404));
        assert_eq!(routed("GET //healthz HTTP/1.1\r\n\r\n"), Err(404));
        let not_allowed = routed("DELETE /readyz HTTP/1.1\r\n\r\n").unwrap_err();
        assert_eq!(not_allowed, 405);
        let response = route(&complete("PUT /readyz HTTP/1.1\r\n\r\n").0).unwrap_err();
        let bytes = String::from_utf8(response.to_bytes(Persistence::KeepAlive)).unwrap();
        assert!(bytes.contains("\r\nAllow: GET, HEAD\r\n"), "{bytes}");
    }

    #[test]
    fn bodies_are_noticed() {
        assert!(
            complete("POST /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
                .0
                .has_body
        );
        assert!(
            complete("GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .0
                .has_body
        );
        assert!(
            !complete("GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
                .0
                .has_body
        );
    }

    #[test]
    fn pipelined_requests_parse_one_at_a_time() {
        let first = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        let second = "HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
        let both = format!("{first}{second}GET /rea");
        let (head, len) = complete(&both);
        assert_eq!((head.path.as_str(), len), ("/healthz", first.len()));
        let (head, len) = complete(&both[len..]);
        assert_eq!((head.method, len), (Method::Head, second.len()));
        let rest = &both[first.len() + second.len()..];
        assert_eq!(parse_head(rest.as_bytes()), Ok(Parsed::Partial));
    }

    #[test]
    fn responses_are_complete_and_one_line() {
        let r = Response::text(503, "engine: x did not answer:\nreason");
        assert_eq!(r.body, "engine: x did not answer: reason\n");
        let bytes = String::from_utf8(r.to_bytes(Persistence::Close)).unwrap();
        assert!(
            bytes.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{bytes}"
        );
        assert!(bytes.contains(&format!("Content-Length: {}\r\n", r.body.len())));
        assert!(bytes.contains("\r\nConnection: close\r\n"));
        assert!(bytes.contains("\r\nRetry-After: 1\r\n"));
        assert!(bytes.ends_with("\r\n\r\nengine: x did not answer: reason\n"));
        let ok = Response::text(200, "ok");
        let head =
            String::from_utf8(ok.clone().without_body().to_bytes(Persistence::KeepAlive)).unwrap();
        assert!(
            head.ends_with("Content-Length: 3\r\nCache-Control: no-store\r\n\r\n"),
            "{head}"
        );
        let kept10 = String::from_utf8(ok.to_bytes(Persistence::KeepAlive10)).unwrap();
        assert!(
            kept10.contains("\r\nConnection: keep-alive\r\n"),
            "{kept10}"
        );
        assert!(!kept10.contains("Retry-After"), "{kept10}");
        check_response(&r);
    }

    /// Random and mutated heads keep the properties (the fuzz target's, on stable).
    #[test]
    fn random_heads_keep_the_properties() {
        let seeds: [&[u8]; 4] = [
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"HEAD /readyz?x=1 HTTP/1.0\nConnection: keep-alive\n\n",
            b"POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in seeds {
            for len in 0..=seed.len() {
                check_head_properties(&seed[..len]);
            }
            for _ in 0..2000 {
                let mut data = seed.to_vec();
                for _ in 0..=next() % 4 {
                    let at = (next() as usize) % data.len();
                    data[at] = match next() % 4 {
                        0 => b'\r',
                        1 => b'\n',
                        2 => b' ',
                        _ => next() as u8,
                    };
                }
                check_head_properties(&data);
            }
        }
    }
}
