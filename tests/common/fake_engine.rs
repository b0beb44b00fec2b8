//! A stand-in Docker engine on a unix socket, for tests that need something
//! to answer berth's ping (`GET /_ping`, `/version`, `/info`) without a real
//! engine: HTTP/1.1 with keep-alive, one thread per connection, answering
//! every path it knows with 200 and anything else with 404.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread;

/// The version the stand-in reports, to recognise its answer.
pub const FAKE_VERSION: &str = "99.0-berth-test";

/// A listening stand-in; the socket file is removed on drop.
pub struct FakeEngine {
    path: PathBuf,
}

impl FakeEngine {
    /// Listens at `path` (which must not exist) and serves in the background.
    pub fn serve(path: &Path) -> FakeEngine {
        let listener = UnixListener::bind(path).expect("bind the stand-in engine");
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || serve_connection(stream));
            }
        });
        FakeEngine {
            path: path.to_owned(),
        }
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve_connection(stream: UnixStream) {
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Headers up to the blank line; GET requests have no body.
        loop {
            let mut header = String::new();
            match reader.read_line(&mut header) {
                Ok(0) | Err(_) => return,
                Ok(_) if header == "\r\n" || header == "\n" => break,
                Ok(_) => {}
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("");
        let path = path.split('?').next().unwrap_or("");
        let (status, content_type, body) = if path.ends_with("/_ping") {
            ("200 OK", "text/plain", "OK".to_owned())
        } else if path.ends_with("/version") {
            (
                "200 OK",
                "application/json",
                format!(
                    r#"{{"Version":"{FAKE_VERSION}","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}}"#
                ),
            )
        } else if path.ends_with("/info") {
            (
                "200 OK",
                "application/json",
                r#"{"SecurityOptions":[]}"#.to_owned(),
            )
        } else {
            (
                "404 Not Found",
                "application/json",
                r#"{"message":"page not found"}"#.to_owned(),
            )
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
