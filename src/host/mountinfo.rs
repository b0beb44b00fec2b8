//! /proc/self/mountinfo, parsed for detection and for host-path translation.
//!
//! Format (proc(5)): `id parent major:minor root mount_point options
//! [optional fields...] - fstype source super_options`, one space between
//! fields. Paths use octal escapes for space, tab, newline and backslash
//! (`\040` etc.) and nothing else, so every other byte, a carriage return
//! included, belongs to its field. The parser never panics: lines it cannot
//! read are counted and skipped, because a detection probe must report
//! evidence, not crash PID 1.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major_minor: String,
    /// Path inside the source filesystem that is mounted (bind mounts: the subdir).
    pub root: String,
    pub mount_point: String,
    pub options: Vec<String>,
    /// Propagation tags such as `shared:1`, `master:2`.
    pub optional_fields: Vec<String>,
    pub fs_type: String,
    pub source: String,
    pub super_options: Vec<String>,
}

impl MountEntry {
    /// Parses one line; None when it does not have the documented shape.
    pub fn parse(line: &str) -> Option<Self> {
        let (head, tail) = split_at_separator(line)?;
        let mut head = fields(head);
        let mount_id = head.next()?.parse().ok()?;
        let parent_id = head.next()?.parse().ok()?;
        let major_minor = head.next()?.to_owned();
        let root = unescape(head.next()?);
        let mount_point = unescape(head.next()?);
        let options = split_options(head.next()?);
        let optional_fields = head.map(str::to_owned).collect();
        let mut tail = fields(tail);
        let fs_type = unescape(tail.next()?);
        let source = tail.next().map(unescape).unwrap_or_default();
        let super_options = tail.next().map(split_options).unwrap_or_default();
        Some(Self {
            mount_id,
            parent_id,
            major_minor,
            root,
            mount_point,
            options,
            optional_fields,
            fs_type,
            source,
            super_options,
        })
    }

    /// Mounted read-write (per-mount flag; `ro` here wins over the superblock).
    pub fn is_read_write(&self) -> bool {
        self.options.iter().any(|o| o == "rw")
    }
}

/// The fields of a line: separated by spaces, the only separator
/// show_mountinfo (fs/proc_namespace.c) writes.
fn fields(text: &str) -> impl Iterator<Item = &str> {
    text.split(' ').filter(|f| !f.is_empty())
}

/// The ` - ` separator, found as a lone `-` field (optional fields never are `-`).
fn split_at_separator(line: &str) -> Option<(&str, &str)> {
    let idx = line.find(" - ")?;
    Some((&line[..idx], &line[idx + 3..]))
}

fn split_options(field: &str) -> Vec<String> {
    field.split(',').map(str::to_owned).collect()
}

/// Decodes the kernel's `\ooo` escapes; malformed escapes are kept as text.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(byte) = octal_escape(&bytes[i..]) {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn octal_escape(bytes: &[u8]) -> Option<u8> {
    let [b'\\', a, b, c, ..] = bytes else {
        return None;
    };
    let digit = |d: u8| (b'0'..=b'7').contains(&d).then(|| u32::from(d - b'0'));
    let value = digit(*a)? * 64 + digit(*b)? * 8 + digit(*c)?;
    u8::try_from(value).ok()
}

/// All mounts of a process, in mount order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MountInfo {
    pub mounts: Vec<MountEntry>,
    /// Lines that could not be parsed (kept for evidence, not fatal).
    pub unparsed_lines: usize,
}

impl MountInfo {
    pub fn parse(text: &str) -> Self {
        let mut info = Self::default();
        // Lines end at '\n' only: a '\r' before it is part of the last field.
        for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
            match MountEntry::parse(line) {
                Some(entry) => info.mounts.push(entry),
                None => info.unparsed_lines += 1,
            }
        }
        info
    }

    /// The topmost mount exactly at `path`, if `path` is a mount point.
    /// A bind-mounted docker socket is one; a socket a local dockerd created is not.
    pub fn mount_at(&self, path: &Path) -> Option<&MountEntry> {
        let wanted = normalize(path);
        self.mounts
            .iter()
            .rev()
            .find(|m| normalize(Path::new(&m.mount_point)) == wanted)
    }

    pub fn is_mount_point(&self, path: &Path) -> bool {
        self.mount_at(path).is_some()
    }

    /// The mount that holds `path`: the longest mount point that is a prefix
    /// of it, the latest one when mounts are stacked.
    pub fn mount_containing(&self, path: &Path) -> Option<&MountEntry> {
        let wanted = normalize(path);
        self.mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| wanted.starts_with(normalize(Path::new(&m.mount_point))))
            .max_by_key(|(i, m)| {
                (
                    normalize(Path::new(&m.mount_point)).components().count(),
                    *i,
                )
            })
            .map(|(_, m)| m)
    }
}

/// Lexical normalisation: `.` and `..` resolved, no symlinks followed
/// (mountinfo paths are already canonical).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_optional_fields() {
        let text =
            "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw\n\
                    garbage\n\
                    40 1 0:5 / /sys/kernel/security rw - securityfs securityfs rw\n";
        let info = MountInfo::parse(text);
        assert_eq!(info.mounts.len(), 2);
        assert_eq!(info.unparsed_lines, 1);
        let m = &info.mounts[0];
        assert_eq!(m.mount_point, "/mnt two");
        assert_eq!(m.fs_type, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.root, "/mnt1");
        assert_eq!(m.optional_fields, vec!["master:1", "shared:2"]);
        assert!(info.is_mount_point(Path::new("/sys/kernel/security")));
    }

    const LINE: &str =
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue";

    #[test]
    fn parses_proc5_example() {
        let m = MountEntry::parse(LINE).expect("parses");
        assert_eq!((m.mount_id, m.parent_id), (36, 35));
        assert_eq!(m.major_minor, "98:0");
        assert_eq!(m.root, "/mnt1");
        assert_eq!(m.mount_point, "/mnt2");
        assert_eq!(m.options, ["rw", "noatime"]);
        assert_eq!(m.optional_fields, ["master:1"]);
        assert_eq!(m.fs_type, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert_eq!(m.super_options, ["rw", "errors=continue"]);
    }

    #[test]
    fn parses_without_optional_fields_and_with_several() {
        let m = MountEntry::parse("1 0 0:1 / / rw - overlay overlay rw").expect("parses");
        assert!(m.optional_fields.is_empty());
        let m =
            MountEntry::parse("1 0 0:1 / / rw shared:1 master:2 - tmpfs tmpfs rw").expect("parses");
        assert_eq!(m.optional_fields, ["shared:1", "master:2"]);
    }

    /// Found by the `mountinfo` fuzz target: a source of "\rsda1" came back
    /// as "sda1". The kernel separates fields with one space and escapes
    /// only space, tab, newline and backslash (seq_escape in show_mountinfo),
    /// so a carriage return or form feed in a path is a byte of the path.
    #[test]
    fn only_a_space_separates_fields() {
        let line = "36 35 98:0 /data /mnt/a\rb rw,noatime master:1 - ext4 \rsda1\x0c rw\r";
        let m = MountEntry::parse(line).expect("parses");
        assert_eq!(m.mount_point, "/mnt/a\rb");
        assert_eq!(m.options, ["rw", "noatime"]);
        assert_eq!(m.optional_fields, ["master:1"]);
        assert_eq!(m.source, "\rsda1\x0c");
        assert_eq!(m.super_options, ["rw\r"]);
        let info = MountInfo::parse(&format!("{line}\n{LINE}\n"));
        assert_eq!(info.mounts.len(), 2);
        assert_eq!(info.mounts[0], m);
        assert!(info.is_mount_point(Path::new("/mnt/a\rb")));
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/home/a\040b"), "/home/a b");
        assert_eq!(unescape(r"a\011b\012c\134d"), "a\tb\nc\\d");
        assert_eq!(unescape(r"bad\09x\4"), r"bad\09x\4");
        assert_eq!(unescape(r"\777"), r"\777");
    }

    #[test]
    fn counts_garbage_lines() {
        let info = MountInfo::parse(&format!(
            "{LINE}\ngarbage\n1 2 3\n\n1 x 0:1 / / rw - a b c\n"
        ));
        assert_eq!(info.mounts.len(), 1);
        assert_eq!(info.unparsed_lines, 3);
    }

    #[test]
    fn mount_point_and_containing_mount() {
        let info = MountInfo::parse(
            "1 0 0:1 / / rw - overlay overlay rw\n\
             2 1 0:2 / /var/run/docker.sock rw - ext4 /dev/sda1 rw\n\
             3 1 0:3 / /var/lib rw - ext4 /dev/sdb rw\n\
             4 1 0:4 / /var/lib rw - tmpfs tmpfs rw\n\
             5 1 0:5 / /var/lib/docker\\040data rw - xfs /dev/sdc rw\n",
        );
        assert!(info.is_mount_point(Path::new("/var/run/docker.sock")));
        assert!(info.is_mount_point(Path::new("/var/run/../run/docker.sock")));
        assert!(!info.is_mount_point(Path::new("/run/docker.sock")));
        let holder = |p: &str| info.mount_containing(Path::new(p)).map(|m| m.mount_id);
        assert_eq!(holder("/var/lib/x"), Some(4));
        assert_eq!(holder("/var/libx"), Some(1));
        assert_eq!(holder("/var/lib/docker data/y"), Some(5));
        assert_eq!(holder("/etc"), Some(1));
        assert_eq!(MountInfo::default().mount_containing(Path::new("/")), None);
    }
}
