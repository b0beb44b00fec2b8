//! Keeping berth's resident set small while it supervises.
//!
//! berth's start-up (flag parsing, logging set-up, Docker detection) touches
//! code spread over most of its text segment, and the kernel's fault-around
//! maps whole 64 KiB runs of it. Once the command runs, berth only loops over
//! signals and waitpid. Dropping the text mappings then (MADV_DONTNEED)
//! leaves in the resident set only what the loop touches again. The pages
//! stay in the page cache, shared and clean; nothing is re-read from disk.
//!
//! Only mappings of berth's own file that are not writable and hold no
//! anonymous page are dropped (code, read-only data): a page written at
//! start-up (relocated pointers, ifunc targets) is an anonymous copy that
//! would revert to the file's bytes, so such a mapping is left alone.
//!
//! The same holds after a burst of work (the health endpoint under load):
//! the code it ran can be dropped again, and the heap is the other part that
//! stays large, as glibc keeps the freed memory; [`release_free_heap`] hands
//! it back.

use std::fs;

/// How long the command must have run before berth trims its resident set.
pub const TRIM_AFTER: std::time::Duration = std::time::Duration::from_millis(300);

/// One line of /proc/self/maps that matters here.
#[derive(Debug, PartialEq, Eq)]
struct Mapping<'a> {
    start: usize,
    end: usize,
    perms: &'a str,
    path: &'a str,
}

fn parse_maps_line(line: &str) -> Option<Mapping<'_>> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?;
    let path = fields.nth(3).unwrap_or("");
    Some(Mapping {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
        perms,
        path,
    })
}

/// The clean, non-writable ranges of `exe` in an smaps listing: every page
/// in them is identical to the file.
fn clean_ranges(smaps: &str, exe: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut clean = true;
    let mut close = |current: Option<(usize, usize)>, clean: bool| {
        if let (Some(range), true) = (current, clean) {
            ranges.push(range);
        }
    };
    for line in smaps.lines() {
        // A mapping's header ("start-end perms ..."); field lines ("Rss: ...")
        // do not parse as one.
        if let Some(mapping) = parse_maps_line(line) {
            close(current.take(), clean);
            clean = true;
            let ours = mapping.path == exe && !mapping.perms.contains('w');
            current = ours.then_some((mapping.start, mapping.end));
            continue;
        }
        // A page written since it was mapped is an anonymous copy. A dirty
        // *file* page (a binary the linker just wrote, not yet flushed) is
        // still the file's content: Private_Dirty alone says nothing.
        if let Some(value) = line.strip_prefix("Anonymous:") {
            if value.trim().trim_end_matches("kB").trim() != "0" {
                clean = false;
            }
        }
    }
    close(current, clean);
    ranges
}

/// Drops berth's start-up code from its resident set (also used after a
/// busy spell of the health endpoint, for the code it ran). Best effort: on any
/// error the pages simply stay mapped.
pub fn release_startup_text() {
    let Ok(exe) = fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(smaps) = crate::host::read_kernel_text("/proc/self/smaps") else {
        return;
    };
    let Some(exe) = exe.to_str() else { return };
    for (start, end) in clean_ranges(&smaps, exe) {
        // SAFETY: the range is a non-writable, file-backed private mapping of
        // berth's own binary with no dirty or anonymous page: every page
        // equals the file, so dropping it loses nothing; the next access
        // faults the same bytes back in.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if rc != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "madvise(DONTNEED) on text failed");
        }
    }
}

/// Hands the heap's free pages back to the kernel after a busy spell (the
/// health endpoint under load). glibc keeps freed memory for reuse, so
/// without this the resident set stays at its peak; `malloc_trim(0)` (since
/// glibc 2.8) releases free pages inside the heap, not only at its top.
pub fn release_free_heap() {
    // SAFETY: malloc_trim takes the arena locks itself and only returns
    // pages that hold no allocation; it touches no memory Rust code owns.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
00200000-00328000 r--p 00000000 fe:01 123 /usr/local/bin/berth
Rss:                 568 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
00328000-005b8000 r-xp 00128000 fe:01 123 /usr/local/bin/berth
Rss:                 988 kB
Private_Dirty:       988 kB
Anonymous:             0 kB
005b8000-005bd000 r--p 003b8000 fe:01 123 /usr/local/bin/berth
Rss:                  20 kB
Private_Dirty:        20 kB
Anonymous:            12 kB
005bd000-005c1000 rw-p 003bd000 fe:01 123 /usr/local/bin/berth
Private_Dirty:        12 kB
Anonymous:            12 kB
7ffff7ff9000-7ffff7ffd000 r-xp 00000000 00:00 0 [vdso]
Private_Dirty:         0 kB
";

    #[test]
    fn picks_only_clean_read_only_mappings_of_berth() {
        assert_eq!(
            clean_ranges(SMAPS, "/usr/local/bin/berth"),
            vec![(0x200000, 0x328000), (0x328000, 0x5b8000)]
        );
        assert!(clean_ranges(SMAPS, "/other").is_empty());
    }

    #[test]
    fn the_real_smaps_parses() {
        let smaps = fs::read_to_string("/proc/self/smaps").unwrap();
        let exe = fs::read_link("/proc/self/exe").unwrap();
        // The test binary's code is mapped and was never written.
        assert!(!clean_ranges(&smaps, exe.to_str().unwrap()).is_empty());
    }

    #[test]
    fn tolerates_odd_lines() {
        assert_eq!(parse_maps_line(""), None);
        assert_eq!(parse_maps_line("zz-yy r-xp 0 0 0 /x"), None);
        let anon = parse_maps_line("1000-2000 rw-p 00000000 00:00 0").unwrap();
        assert_eq!(anon.path, "");
    }
}
