//! berth's own writes to stdout and stderr (the subcommands' reports,
//! --help, error lines).
//!
//! Rust's start-up code ignores SIGPIPE, so a write to a pipe whose reader
//! has gone (`berth doctor --json | true`, `berth health | head -c0`) fails
//! with EPIPE instead of killing berth, and `println!` turns that failure
//! into a panic (an abort, exit 134, in the release build). Here EPIPE means
//! the reader has what it wanted: the output ends quietly and the subcommand
//! keeps the exit code it documents. Any other write failure (a full disk, a
//! closed descriptor) is an error the caller reports with
//! [`Failure::Output`](crate::exit::Failure::Output).

use std::io::{self, Write};

/// Writes all of `text` to stdout and flushes it. Ok when everything was
/// written or the reader had closed the pipe (EPIPE).
pub fn stdout(text: &str) -> io::Result<()> {
    quiet_on_broken_pipe(write_all(&mut io::stdout().lock(), text))
}

/// Writes `text` to stderr, best effort: an error line that cannot be
/// written has nowhere else to go.
pub fn stderr(text: &str) {
    let _ = write_all(&mut io::stderr().lock(), text);
}

fn write_all(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()
}

fn quiet_on_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write with `kind`.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_quiet_and_other_failures_are_errors() {
        let epipe = write_all(&mut Failing(io::ErrorKind::BrokenPipe), "report\n");
        assert!(quiet_on_broken_pipe(epipe).is_ok());
        let full = write_all(&mut Failing(io::ErrorKind::StorageFull), "report\n");
        let err = quiet_on_broken_pipe(full).expect_err("a full disk is an error");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        let mut sink = Vec::new();
        write_all(&mut sink, "report\n").expect("written");
        assert_eq!(sink, b"report\n");
    }
}
