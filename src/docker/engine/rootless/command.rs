//! The rootlesskit command line (what dockerd-rootless.sh does, without a
//! shell), and the step that runs inside its namespace before dockerd.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::*;

/// rootlesskit's knobs, with dockerd-rootless.sh's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlesskitOptions {
    pub program: PathBuf,
    pub net: String,
    pub mtu: u32,
    pub port_driver: String,
    pub slirp4netns_sandbox: String,
    pub slirp4netns_seccomp: String,
    /// Put between rootlesskit's flags and dockerd, e.g. `berth
    /// rootless-child --`, a step that removes [`CHILD_STALE_RUN_ENTRIES`]
    /// (see [`remove_child_stale_run_entries`]) and execs the rest, as
    /// dockerd-rootless.sh's second half does. Needed whenever the parent's
    /// /run holds docker or containerd entries (see [`Check::RunCopyUp`]):
    /// on this machine, where it does, rootless dockerd 20.10 failed with
    /// "mkdir /run/docker/plugins: permission denied" without the step and
    /// started (overlay2, `name=rootless`) with it.
    pub child_prefix: Vec<String>,
}

impl Default for RootlesskitOptions {
    fn default() -> Self {
        Self {
            program: PathBuf::from("rootlesskit"),
            net: "slirp4netns".to_owned(),
            mtu: SLIRP4NETNS_MTU,
            port_driver: "builtin".to_owned(),
            slirp4netns_sandbox: "auto".to_owned(),
            slirp4netns_seccomp: "auto".to_owned(),
            child_prefix: Vec::new(),
        }
    }
}

/// The process to spawn as the user, and what clients should use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, OsString)>,
    /// `unix:///run/user/<uid>/docker.sock`, for the user's shell.
    pub docker_host: String,
}

/// `rootlesskit <flags> [child_prefix] dockerd <args>` for `user`, like
/// dockerd-rootless.sh (docker.io 20.10's copy, read on this machine). The
/// socket is always `<runtime dir>/docker.sock` (what `docker_host` names);
/// exec root, pid file and data root default to the runtime dir and
/// `~/.local/share/docker` unless the caller set them.
pub fn rootless_command(
    user: &RootlessUser,
    run_user: &Path,
    kit: &RootlesskitOptions,
    dockerd: &DockerdOptions,
) -> Result<RootlessCommand, RootlessError> {
    let runtime_dir = user.runtime_dir(run_user);
    let mut dockerd = dockerd.clone();
    dockerd.flavor = Flavor::Rootless;
    dockerd.unix_socket = runtime_dir.join("docker.sock");
    dockerd.data_root.get_or_insert_with(|| user.data_root());
    dockerd
        .exec_root
        .get_or_insert_with(|| runtime_dir.join("docker"));
    dockerd
        .pidfile
        .get_or_insert_with(|| runtime_dir.join("docker.pid"));
    let inner = dockerd_command(&dockerd)?;

    let mut args = vec![
        format!("--net={}", kit.net),
        format!("--mtu={}", kit.mtu),
        format!("--slirp4netns-sandbox={}", kit.slirp4netns_sandbox),
        format!("--slirp4netns-seccomp={}", kit.slirp4netns_seccomp),
        "--disable-host-loopback".to_owned(),
        format!("--port-driver={}", kit.port_driver),
        // /etc: keeps the namespace's resolv.conf when the parent's is replaced.
        "--copy-up=/etc".to_owned(),
        // /run: lets dockerd create /run/docker (hard-coded for plugins).
        "--copy-up=/run".to_owned(),
        "--propagation=rslave".to_owned(),
    ];
    args.extend(kit.child_prefix.iter().cloned());
    args.push(inner.program.display().to_string());
    args.extend(inner.args);

    let mut env = inner.env;
    env.push(("HOME".to_owned(), user.home.clone().into_os_string()));
    env.push(("USER".to_owned(), OsString::from(&user.name)));
    env.push((
        "XDG_RUNTIME_DIR".to_owned(),
        runtime_dir.clone().into_os_string(),
    ));
    Ok(RootlessCommand {
        program: kit.program.clone(),
        args,
        env,
        docker_host: format!("unix://{}", runtime_dir.join("docker.sock").display()),
    })
}

/// Inside the rootlesskit namespace, before exec'ing dockerd: remove the
/// copy-up symlinks that point into the parent's /run (`run_dir` is /run).
/// Returns the paths removed.
pub fn remove_child_stale_run_entries(run_dir: &Path) -> Result<Vec<PathBuf>, RootlessError> {
    let mut removed = Vec::new();
    for name in CHILD_STALE_RUN_ENTRIES {
        let path = run_dir.join(name);
        match fs::symlink_metadata(&path) {
            // Only links and plain files: never recurse into a real directory.
            Ok(m) if !m.is_dir() => {
                fs::remove_file(&path).map_err(|source| RootlessError::Write {
                    path: path.clone(),
                    source,
                })?;
                removed.push(path);
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(RootlessError::Read { path, source }),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::rootless::tests::*;

    #[test]
    fn command_matches_dockerd_rootless_sh() {
        let u = user(Path::new("/home/dev"));
        let kit = RootlesskitOptions::default();
        let cmd = rootless_command(
            &u,
            Path::new("/run/user"),
            &kit,
            &DockerdOptions {
                socket_group: Some(998),
                ..DockerdOptions::default()
            },
        )
        .expect("cmd");
        assert_eq!(cmd.program, PathBuf::from("rootlesskit"));
        assert_eq!(
            cmd.args,
            vec![
                "--net=slirp4netns",
                "--mtu=65520",
                "--slirp4netns-sandbox=auto",
                "--slirp4netns-seccomp=auto",
                "--disable-host-loopback",
                "--port-driver=builtin",
                "--copy-up=/etc",
                "--copy-up=/run",
                "--propagation=rslave",
                "dockerd",
                "--host=unix:///run/user/1000/docker.sock",
                "--data-root=/home/dev/.local/share/docker",
                "--exec-root=/run/user/1000/docker",
                "--pidfile=/run/user/1000/docker.pid",
            ]
        );
        assert_eq!(cmd.docker_host, "unix:///run/user/1000/docker.sock");
        let env: Vec<&str> = cmd.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(env, vec!["PATH", "HOME", "USER", "XDG_RUNTIME_DIR"]);
        let kit = RootlesskitOptions {
            child_prefix: vec!["/berth".into(), "rootless-child".into(), "--".into()],
            ..kit
        };
        let cmd = rootless_command(&u, Path::new("/run/user"), &kit, &DockerdOptions::default())
            .expect("cmd");
        let i = cmd.args.iter().position(|a| a == "/berth").expect("prefix");
        assert_eq!(cmd.args[i + 3], "dockerd");
    }

    #[test]
    fn rootlesskit_accepts_the_generated_flags() {
        let Ok(kit) = which::which("rootlesskit") else {
            eprintln!("skipping: rootlesskit not installed");
            return;
        };
        let cmd = rootless_command(
            &user(Path::new("/home/dev")),
            Path::new("/run/user"),
            &RootlesskitOptions::default(),
            &DockerdOptions::default(),
        )
        .expect("cmd");
        let flags: Vec<&String> = cmd
            .args
            .iter()
            .take_while(|a| a.starts_with("--"))
            .collect();
        let help = std::process::Command::new(kit)
            .arg("--help")
            .output()
            .expect("rootlesskit --help");
        let help = String::from_utf8_lossy(&help.stdout).into_owned()
            + &String::from_utf8_lossy(&help.stderr);
        for flag in flags {
            let name = flag.split('=').next().unwrap_or(flag);
            assert!(
                help.contains(&format!("{name} ")) || help.contains(&format!("{name}\n")),
                "rootlesskit lacks {name}"
            );
        }
    }

    #[test]
    fn child_cleanup_removes_links_but_not_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/nonexistent/docker", dir.path().join("docker")).expect("link");
        fs::write(dir.path().join("xtables.lock"), "").expect("write");
        fs::create_dir(dir.path().join("containerd")).expect("mkdir");
        let removed = remove_child_stale_run_entries(dir.path()).expect("cleanup");
        assert_eq!(
            removed,
            vec![dir.path().join("docker"), dir.path().join("xtables.lock")]
        );
        assert!(dir.path().join("containerd").is_dir());
    }
}
