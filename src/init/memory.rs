//! Keeping berth's resident set small while it supervises.
//!
//! berth's start-up (flag parsing, logging set-up, Docker detection) touches
//! code spread over most of its text segment, and the kernel's fault-around
//! maps whole 64 KiB runs of it. Once the command runs, berth only loops over
//! signals and waitpid. Dropping the text mappings then (MADV_DONTNEED)
//! leaves in the resident set only what the loop touches again. The pages
//! stay in the page cache, shared and clean; nothing is re-read from disk.
//!
//! Only read-only executable mappings of berth's own file are dropped: a
//! private writable page (relocated data, .bss) would revert to the file's
//! bytes.

use std::fs;

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

/// The executable, non-writable ranges of `exe` in a maps listing.
fn text_ranges(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(parse_maps_line)
        .filter(|m| m.path == exe && m.perms.starts_with("r-x"))
        .map(|m| (m.start, m.end))
        .collect()
}

/// Drops berth's start-up code from its resident set. Best effort: on any
/// error the pages simply stay mapped.
pub fn release_startup_text() {
    let Ok(exe) = fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let Some(exe) = exe.to_str() else { return };
    for (start, end) in text_ranges(&maps, exe) {
        // SAFETY: the range is a read-only, executable, file-backed private
        // mapping of berth's own binary: it was never written, so dropping it
        // loses nothing; the next access faults the same bytes back in.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if rc != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "madvise(DONTNEED) on text failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
555555554000-555555560000 r--p 00000000 fe:01 123 /usr/local/bin/berth
555555560000-555555700000 r-xp 0000c000 fe:01 123 /usr/local/bin/berth
555555700000-555555740000 r--p 001ac000 fe:01 123 /usr/local/bin/berth
555555740000-555555750000 rw-p 001ec000 fe:01 123 /usr/local/bin/berth
7ffff7ff9000-7ffff7ffd000 r-xp 00000000 00:00 0 [vdso]
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn picks_only_berths_executable_text() {
        assert_eq!(
            text_ranges(MAPS, "/usr/local/bin/berth"),
            vec![(0x555555560000, 0x555555700000)]
        );
        assert!(text_ranges(MAPS, "/other").is_empty());
    }

    #[test]
    fn tolerates_odd_lines() {
        assert_eq!(parse_maps_line(""), None);
        assert_eq!(parse_maps_line("zz-yy r-xp 0 0 0 /x"), None);
        let anon = parse_maps_line("1000-2000 rw-p 00000000 00:00 0").unwrap();
        assert_eq!(anon.path, "");
    }
}
