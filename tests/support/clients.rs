//! The real clients of the e2e tests: the devcontainer CLI and Docker
//! Compose, as tests/clients.sh installs them, and the small pieces the
//! recipes share (the berth binary, a tiny local image, the feature folder).
//!
//! tests/clients.sh exports `BERTH_DEVCONTAINER_CLI` (the `devcontainer`
//! executable) and `BERTH_COMPOSE=1` (the `docker compose` plugin works).
//! [`require_client`] turns a missing one into a loud skip, or a failure
//! under `CI=true`, like [`super::require_e2e`] does for the engine.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use super::{label, unique_name, Docker, Image};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The berth binary the feature and the recipes' images get: `$BERTH_BIN`,
/// else this checkout's static release build.
pub fn berth_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(bin);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("x86_64-unknown-linux-gnu/release/berth")
}

/// The value of `var` (set by tests/clients.sh), or `None` after a loud
/// skip. Under `CI=true` a client that was not installed is a failure.
pub fn require_client(test: &str, var: &str, what: &str) -> Option<String> {
    if let Ok(value) = std::env::var(var) {
        if !value.is_empty() {
            return Some(value);
        }
    }
    let reason = format!(
        "{what} is not installed ({var} is unset): run `eval \"$(bash tests/clients.sh)\"` (tests/run.sh does)"
    );
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci {
        panic!("{test}: {reason}");
    }
    super::skip(test, &reason);
    None
}

/// Text of an output's stdout and stderr, for failure messages.
pub fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Copies the feature folder (devcontainer-feature/berth) into `dest` the
/// way devcontainer-feature/package.sh lays it out: metadata, install.sh and
/// the static berth binary.
pub fn stage_feature(dest: &Path) {
    let bin = berth_bin();
    assert!(
        bin.is_file(),
        "no berth binary at {} (cargo build --release, or set BERTH_BIN)",
        bin.display()
    );
    fs::create_dir_all(dest).expect("mkdir feature");
    for file in ["devcontainer-feature.json", "install.sh"] {
        fs::copy(
            repo().join("devcontainer-feature/berth").join(file),
            dest.join(file),
        )
        .unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    fs::copy(&bin, dest.join("berth")).expect("copy berth");
}

/// A tiny image with no registry behind it: FROM scratch, busybox-static
/// and its applets (`echo`, `sh`, `sleep`, `cat`). Removed on drop.
pub fn tiny_image(docker: &Docker) -> Image {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .expect("busybox-static is not installed (tests/engine.sh installs it)");
    let ctx = tempfile::tempdir().expect("temp dir");
    fs::copy(busybox, ctx.path().join("busybox")).expect("copy busybox");
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .expect("Dockerfile");
    docker
        .build(ctx.path(), "tiny")
        .unwrap_or_else(|log| panic!("building the tiny image failed:\n{log}"))
}

// ---------------------------------------------------------- devcontainer CLI

/// The devcontainer CLI's feature build tags one shared temporary image
/// (`dev_container_feature_content_temp`) without BuildKit: two `up`s at
/// once would use each other's feature options. One at a time.
static DEVCONTAINER_UP: Mutex<()> = Mutex::new(());

/// A workspace folder with a `.devcontainer/` (devcontainer.json, a
/// Dockerfile, the berth feature as a local `./berth` feature), driven by
/// the real devcontainer CLI against `DOCKER_HOST`.
///
/// The container carries `berth-test=<run>` (an `--id-label`, so
/// tests/run.sh's sweep finds it); on drop it is removed with the volumes it
/// mounted and the `vsc-<folder>-*` images the CLI built.
pub struct DevContainer {
    cli: String,
    docker: Docker,
    dir: tempfile::TempDir,
    id_labels: Vec<String>,
}

impl DevContainer {
    /// Writes the workspace: `dockerfile` becomes .devcontainer/Dockerfile
    /// and `config` .devcontainer/devcontainer.json (the test writes
    /// `"build": {"dockerfile": "Dockerfile"}` itself).
    pub fn new(cli: &str, docker: &Docker, dockerfile: &str, config: &serde_json::Value) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-dc-")
            .tempdir()
            .expect("temp dir");
        let dot = dir.path().join(".devcontainer");
        stage_feature(&dot.join("berth"));
        fs::write(dot.join("Dockerfile"), dockerfile).expect("Dockerfile");
        fs::write(
            dot.join("devcontainer.json"),
            serde_json::to_string_pretty(config).expect("json"),
        )
        .expect("devcontainer.json");
        DevContainer {
            cli: cli.to_string(),
            docker: docker.clone(),
            id_labels: vec![label(), format!("berth-devcontainer={}", unique_name("dc"))],
            dir,
        }
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }

    fn command<I, S>(&self, sub: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.cli);
        cmd.arg(sub).arg("--workspace-folder").arg(self.folder());
        for l in &self.id_labels {
            cmd.arg("--id-label").arg(l);
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Ids of every container the engine has, running or not.
    fn all_containers(&self) -> Vec<String> {
        self.docker
            .ok(["ps", "-aq", "--no-trunc"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The classic builder keeps the container of a failed `RUN` (no
    /// `--force-rm`), unlabelled: remove those of the CLI's feature step
    /// that appeared during this `up`.
    fn remove_failed_build_containers(&self, before: &[String]) {
        for id in self.all_containers() {
            if before.contains(&id) {
                continue;
            }
            let cmd = self
                .docker
                .output(["inspect", "--format", "{{json .Config.Cmd}}", &id]);
            if String::from_utf8_lossy(&cmd.stdout).contains("devcontainer-features-install.sh") {
                let _ = self.docker.output(["rm", "-f", "-v", &id]);
            }
        }
    }

    /// `devcontainer up`: the container id, or the CLI's whole output.
    pub fn up(&self) -> Result<String, String> {
        let _one_at_a_time = DEVCONTAINER_UP.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.all_containers();
        let out = self
            .command("up", ["--log-level", "info"])
            .output()
            .expect("run devcontainer up");
        if !out.status.success() {
            self.remove_failed_build_containers(&before);
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let result: Option<serde_json::Value> = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l.trim()).ok());
        match result {
            Some(r) if out.status.success() && r["outcome"] == "success" => {
                Ok(r["containerId"].as_str().expect("containerId").to_string())
            }
            _ => Err(both(&out)),
        }
    }

    /// `devcontainer exec ARGS...` as the remote user.
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command("exec", args)
            .output()
            .expect("run devcontainer exec")
    }

    /// `devcontainer exec`, panic unless it succeeds; trimmed stdout.
    pub fn exec_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.exec(args);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        assert!(
            out.status.success(),
            "devcontainer exec {shown:?} failed ({}):\n{}\ncontainer logs:\n{}",
            out.status,
            both(&out),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn label_filters(&self) -> Vec<String> {
        self.id_labels
            .iter()
            .flat_map(|l| ["--filter".to_string(), format!("label={l}")])
            .collect()
    }

    /// The id of the workspace's container, if there is one.
    pub fn container_id(&self) -> Option<String> {
        let mut args = vec!["ps".to_string(), "-aq".to_string()];
        args.extend(self.label_filters());
        let ids = self.docker.ok(&args);
        ids.lines().next().map(str::to_string)
    }

    /// The container's logs (stdout and stderr).
    pub fn logs(&self) -> String {
        match self.container_id() {
            Some(id) => both(&self.docker.output(["logs", &id])),
            None => "(no container)".to_string(),
        }
    }
}

impl Drop for DevContainer {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = self
                .docker
                .command(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        if let Some(id) = self.container_id() {
            let volumes = self.docker.output([
                "inspect",
                "--format",
                "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
                &id,
            ]);
            quiet(&["rm", "-f", "-v", &id]);
            for volume in String::from_utf8_lossy(&volumes.stdout).split_whitespace() {
                quiet(&["volume", "rm", "-f", volume]);
            }
        }
        let base = self
            .folder()
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let images = self
            .docker
            .output(["images", "--format", "{{.Repository}}"]);
        for image in String::from_utf8_lossy(&images.stdout).lines() {
            if image.starts_with(&format!("vsc-{base}-")) {
                quiet(&["rmi", "-f", image]);
            }
        }
    }
}

// ------------------------------------------------------------------ compose

/// A Compose project (`docker compose -p NAME -f FILE...`), brought down
/// with its volumes on drop. `--project-directory` is a temp dir of its
/// own, so relative paths (`./data`) land there, never in the repository.
pub struct ComposeProject {
    docker: Docker,
    pub name: String,
    files: Vec<PathBuf>,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl ComposeProject {
    pub fn new(docker: &Docker, files: &[PathBuf]) -> Self {
        ComposeProject {
            docker: docker.clone(),
            name: unique_name("compose"),
            files: files.to_vec(),
            dir: tempfile::Builder::new()
                .prefix("berth-compose-")
                .tempdir()
                .expect("temp dir"),
            env: Vec::new(),
        }
    }

    /// A variable for Compose's interpolation (`${VAR}` in the file).
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds a file after the others (an override).
    pub fn add_file(&mut self, file: PathBuf) {
        self.files.push(file);
    }

    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.docker.command(["compose"]);
        cmd.arg("-p").arg(&self.name);
        cmd.arg("--project-directory").arg(self.dir.path());
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command(args).output().expect("run docker compose")
    }

    /// `docker compose ARGS...`, panic unless it succeeds; trimmed stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.output(args);
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        assert!(
            out.status.success(),
            "docker compose {shown:?} ({}) failed ({}):\n{}\nlogs:\n{}",
            self.name,
            out.status,
            both(&out),
            both(&self.output(&["logs", "--no-color"]))
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Ids of everything Docker still holds for this project: containers,
    /// volumes and networks labelled `com.docker.compose.project=NAME`.
    pub fn leftovers(&self) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        let mut left = Vec::new();
        for (what, args) in [
            ("container", vec!["ps", "-aq", "--filter", &filter]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &filter]),
            ("network", vec!["network", "ls", "-q", "--filter", &filter]),
        ] {
            for id in self.docker.ok(&args).lines() {
                left.push(format!("{what} {id}"));
            }
        }
        left
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = self
            .command(&["down", "-v", "--remove-orphans", "--timeout", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
