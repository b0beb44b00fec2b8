//! Turning one fuzz input into what a parser reads.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The first `n` NUL-separated pieces of `data` (the last one takes the
/// rest, NULs included), missing ones empty: one input standing for several
/// files. Text files never hold NUL, so a seed is the files joined by NUL.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    out.resize(n, &[]);
    out
}

/// [`parts`] as text, decoded the way berth decodes the files it reads.
pub fn text_parts(data: &[u8], n: usize) -> Vec<String> {
    parts(data, n)
        .into_iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// A directory of this thread's own, removed when the thread ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// An empty directory for one input's files: the same path for every input
/// of this thread (emptied each time), under `$TMPDIR`. The bench script
/// points `$TMPDIR` at a tmpfs directory of its own and removes it.
pub fn scratch() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SCRATCH.with(|cell| {
        let mut cell = cell.borrow_mut();
        let dir = &cell
            .get_or_insert_with(|| {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                Scratch(std::env::temp_dir().join(format!("berth-fuzz-{}-{n}", std::process::id())))
            })
            .0;
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("scratch dir {}: {e}", dir.display()));
        dir.clone()
    })
}

/// Writes `contents` at `path`, creating its directories.
pub fn write(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
