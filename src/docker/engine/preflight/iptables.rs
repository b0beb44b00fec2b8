//! (c) the iptables backend the kernel already uses, as a PATH of links.

use super::*;

/// Which backend the kernel is already using: legacy when any of
/// `/proc/net/{ip,ip6,arp}_tables_names` lists a table (legacy tables are
/// loaded, and mixing would split the rules), else nft. Reading these files
/// does not load modules, unlike `iptables-legacy -L`.
pub fn detect_iptables_backend(proc_root: &Path) -> (IptablesBackend, String) {
    for name in ["ip_tables_names", "ip6_tables_names", "arp_tables_names"] {
        let path = proc_root.join("net").join(name);
        if fs::read_to_string(&path).is_ok_and(|s| !s.trim().is_empty()) {
            return (
                IptablesBackend::Legacy,
                format!("{} lists legacy tables", path.display()),
            );
        }
    }
    (IptablesBackend::Nft, "no legacy tables loaded".to_owned())
}

/// Replace (or create) `link` so it points to `target`, atomically.
fn symlink_atomic(target: &Path, link: &Path) -> io::Result<()> {
    let tmp = link.with_extension("berth-tmp");
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, &tmp)?;
    fs::rename(&tmp, link)
}

/// (c) iptables backend, applied without update-alternatives: a directory of
/// symlinks (`iptables -> /usr/sbin/iptables-legacy`, ...) that goes first on
/// dockerd's PATH. Returns the backend and the directory when it was made.
pub fn prepare_iptables(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
) -> (Finding, Option<(IptablesBackend, PathBuf)>) {
    const STEP: Step = Step::Iptables;
    let (backend, why) = match opts.iptables {
        IptablesChoice::Legacy => (IptablesBackend::Legacy, "BERTH_IPTABLES=legacy".to_owned()),
        IptablesChoice::Nft => (IptablesBackend::Nft, "BERTH_IPTABLES=nft".to_owned()),
        IptablesChoice::Auto => detect_iptables_backend(&paths.proc_root),
    };
    let suffix = backend.suffix();
    let main = format!("iptables-{suffix}");
    if find_on_path(&main, &opts.search_path).is_none() {
        let record = if find_on_path("iptables", &opts.search_path).is_some() {
            skipped(
                STEP,
                format!("{suffix} wanted ({why}) but {main} is not on PATH; dockerd uses the plain iptables"),
            )
        } else {
            warn(
                STEP,
                "no iptables on PATH: dockerd cannot set up container networking",
                "install iptables in the image (Debian's package ships iptables-legacy and iptables-nft)",
            )
        };
        return (record, None);
    }
    let dir = &paths.iptables_bin_dir;
    let fail = |err: io::Error| {
        warn(
            STEP,
            format!("cannot prepare {}: {err}", dir.display()),
            format!(
                "make {} writable, or set BERTH_IPTABLES to match the image's default iptables",
                dir.display()
            ),
        )
    };
    if let Err(err) = fs::create_dir_all(dir) {
        return (fail(err), None);
    }
    let mut linked = Vec::new();
    for (family, op) in IPTABLES_TOOLS {
        let tool = format!("{family}{op}");
        let link = dir.join(&tool);
        let result = match find_on_path(&format!("{family}-{suffix}{op}"), &opts.search_path) {
            Some(target) => symlink_atomic(&target, &link).map(|()| linked.push(tool)),
            // The dir is berth's: drop a link left by an earlier choice.
            None => match fs::remove_file(&link) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if let Err(err) = result {
            return (fail(err), None);
        }
    }
    let record = done(
        STEP,
        format!(
            "{suffix} ({why}): {} -> *-{suffix} in {}",
            linked.join(", "),
            dir.display()
        ),
    );
    (record, Some((backend, dir.clone())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::*;
    #[allow(unused_imports)]
    use crate::host::syscall::{Call, RecordingSyscall};

    /// Debian's names, spelled out (not derived from IPTABLES_TOOLS).
    const DEBIAN_IPTABLES: [&str; 12] = [
        "iptables-legacy",
        "iptables-legacy-save",
        "iptables-legacy-restore",
        "ip6tables-legacy",
        "ip6tables-legacy-save",
        "ip6tables-legacy-restore",
        "iptables-nft",
        "iptables-nft-save",
        "iptables-nft-restore",
        "ip6tables-nft",
        "ip6tables-nft-save",
        "ip6tables-nft-restore",
    ];

    pub(crate) fn iptables_bins(f: &Fixture) {
        for name in DEBIAN_IPTABLES {
            exe(&f.root.join("bin"), name);
        }
    }

    #[test]
    fn iptables_backend_follows_loaded_legacy_tables() {
        let f = fixture();
        let net = f.paths.proc_root.join("net");
        fs::write(net.join("ip_tables_names"), "").expect("write");
        assert_eq!(
            detect_iptables_backend(&f.paths.proc_root).0,
            IptablesBackend::Nft
        );
        fs::write(net.join("ip6_tables_names"), "filter\n").expect("write");
        assert_eq!(
            detect_iptables_backend(&f.paths.proc_root).0,
            IptablesBackend::Legacy
        );
    }

    #[test]
    fn iptables_symlink_dir_points_at_the_chosen_backend() {
        let f = fixture();
        iptables_bins(&f);
        fs::write(f.paths.proc_root.join("net/arp_tables_names"), "filter\n").expect("write");
        let (r, chosen) = prepare_iptables(&f.paths, &f.opts);
        assert!(r.verdict == Verdict::Done, "{r:?}");
        let (backend, dir) = chosen.expect("dir");
        assert_eq!(backend, IptablesBackend::Legacy);
        for (link, target) in [
            ("iptables", "iptables-legacy"),
            ("iptables-save", "iptables-legacy-save"),
            ("iptables-restore", "iptables-legacy-restore"),
            ("ip6tables", "ip6tables-legacy"),
            ("ip6tables-save", "ip6tables-legacy-save"),
            ("ip6tables-restore", "ip6tables-legacy-restore"),
        ] {
            assert_eq!(
                fs::read_link(dir.join(link)).expect("link"),
                f.root.join("bin").join(target)
            );
        }
        // The override wins and relinks.
        let opts = PreflightOptions {
            iptables: IptablesChoice::Nft,
            ..f.opts.clone()
        };
        let (_, chosen) = prepare_iptables(&f.paths, &opts);
        assert_eq!(chosen.map(|c| c.0), Some(IptablesBackend::Nft));
        assert_eq!(
            fs::read_link(dir.join("iptables")).expect("link"),
            f.root.join("bin/iptables-nft")
        );
    }

    #[test]
    fn iptables_without_variants_uses_plain_or_warns() {
        let f = fixture();
        let (r, chosen) = prepare_iptables(&f.paths, &f.opts);
        assert!(is_warn(&r), "{r:?}");
        assert!(chosen.is_none());
        exe(&f.root.join("bin"), "iptables");
        let (r, chosen) = prepare_iptables(&f.paths, &f.opts);
        assert!(r.verdict == Verdict::Skipped, "{r:?}");
        assert!(chosen.is_none());
    }

    #[test]
    fn iptables_choice_parses() {
        use clap::ValueEnum;
        let parse = |s| IptablesChoice::from_str(s, true);
        assert_eq!(parse("legacy"), Ok(IptablesChoice::Legacy));
        assert_eq!(parse("NFT"), Ok(IptablesChoice::Nft));
        assert_eq!(parse("nf_tables"), Ok(IptablesChoice::Nft));
        assert_eq!(parse("auto"), Ok(IptablesChoice::Auto));
        assert!(parse("iptables").is_err());
    }
}
