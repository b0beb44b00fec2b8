//! Docker access for the user on every host socket, against real engines
//! (issue 10): the test engine presented at a socket with a chosen gid
//! ([`SocketProxy`]), and Podman's Docker-compatible service
//! (tests/podman.sh). Each case checks what a user attaching later would:
//! `docker exec -u dev C docker ps`, `docker exec -u dev C docker run --rm
//! <tiny> echo ok` and `docker run -it` on a terminal, with nothing
//! exported; and that the host's socket kept its mode and owner.
//!
//! - gid 0 and the image's `shadow` gid: berth's own socket beside the
//!   host's (/run/berth/docker.sock, the docker CLI context `berth`);
//! - a gid unknown to the image: a group made for it (no proxy);
//! - Podman's rootful socket (root:root 0600);
//! - the host's socket at /var/run/docker-host.sock: berth's at the
//!   default path;
//! - the engine going away and coming back: errors that say so, /healthz
//!   says why, berth keeps running, service resumes;
//! - sockets in a mounted directory, one socket at two paths;
//! - host paths through symlinks across mounts.
//!
//! Needs `bash tests/run.sh` (engine, images, Podman); see tests/support.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::clients::{both, tiny_image};
use support::{
    engine_socket, require_e2e, wait_until, workspace_image, Container, Docker, Image, Pty,
    SocketProxy,
};

/// How long Docker may take to be usable once the container runs.
const READY: Duration = Duration::from_secs(90);

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Podman's service socket (`BERTH_TEST_PODMAN_SOCK`, from `tests/podman.sh
/// up`), or a loud skip; under `CI=true` a failure.
fn podman_socket(test: &str) -> Option<PathBuf> {
    match std::env::var("BERTH_TEST_PODMAN_SOCK") {
        Ok(path) if !path.is_empty() => return Some(PathBuf::from(path)),
        _ => {}
    }
    let reason = "Podman's service is not running (BERTH_TEST_PODMAN_SOCK is unset): run `eval \"$(bash tests/podman.sh up)\"` (tests/run.sh does)";
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{test}: {reason}");
    }
    support::skip(test, reason);
    None
}

/// The engine's socket, or a loud skip (under `CI=true` a failure: CI
/// never passes these by skipping).
fn engine(test: &str) -> Option<PathBuf> {
    let socket = engine_socket();
    if socket.is_none() {
        let reason = "DOCKER_HOST is not a unix socket to present";
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{test}: {reason}");
        }
        support::skip(test, reason);
    }
    socket
}

/// A host socket's mode and owner, to compare before and after.
fn ownership(path: &Path) -> (u32, u32, u32) {
    let meta = fs::metadata(path).expect("stat the host socket");
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

/// The workspace image as BERTH_USER=dev with `args` before the image.
fn workspace(docker: &Docker, args: &[&str]) -> Container {
    let image = workspace_image();
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--no-healthcheck", &image, "sleep", "infinity"]);
    docker.run_detached(&full)
}

/// Waits until `docker exec -u dev C docker ps` works (nothing exported).
fn wait_for_docker_ps(c: &Container) {
    let mut last = String::new();
    let ok = wait_until(READY, || {
        let out = c.exec_as("dev", &["docker", "ps", "--format", "{{.ID}}"]);
        last = both(&out);
        out.status.success()
    });
    assert!(
        ok,
        "docker exec -u dev {} docker ps failed for {READY:?}: {last}\nlogs:\n{}",
        c.name,
        c.logs()
    );
}

/// The three checks of every case, as dev in later `docker exec` sessions:
/// `docker ps`, `docker run --rm IMAGE echo ok`, and `docker run -it`
/// through a terminal (the HTTP upgrade, both directions, the exit code).
fn docker_works_for_dev(docker: &Docker, c: &Container, image: &str) {
    wait_for_docker_ps(c);
    let ok = c.exec_as("dev", &["docker", "run", "--rm", image, "echo", "ok"]);
    assert_eq!(stdout(&ok), "ok", "{}\nlogs:\n{}", both(&ok), c.logs());
    // Not --rm: Podman 4.3's compatible API then reports exit code 0
    // whatever the container's (seen against its own socket, without berth).
    let name = support::unique_name("it");
    let cmd = docker.command([
        "exec", "-it", "-u", "dev", &c.name, "docker", "run", "-it", "--name", &name, image, "sh",
    ]);
    let mut pty = Pty::spawn(cmd);
    pty.send(b"echo pty-$((6 * 7))\r");
    pty.expect("pty-42", READY);
    pty.send(b"exit 3\r");
    let code = pty.wait_exit(READY);
    let _ = c.exec_as("dev", &["docker", "rm", "-f", &name]);
    assert_eq!(
        code,
        Some(3),
        "docker run -it did not end with its shell's code:\n{}",
        pty.transcript()
    );
}

/// berth's own socket: root, the group `group`, mode 0660.
fn assert_berths_socket(c: &Container, path: &str, group: &str) {
    let stat = c.exec_ok(&["stat", "-c", "%a %U %G %F", path]);
    assert_eq!(stat, format!("660 root {group} socket"), "{}", c.logs());
}

/// A user outside the group gets "permission denied" on berth's socket.
fn outsiders_are_refused(c: &Container, path: &str) {
    let host = format!("unix://{path}");
    let out = c.exec_as("nobody", &["docker", "-H", &host, "ps"]);
    assert!(!out.status.success(), "nobody reached {path}");
    assert!(both(&out).contains("permission denied"), "{}", both(&out));
}

/// The host socket gid is one berth must not grant: dev gets berth's socket
/// beside it and the docker CLI context, and never the gid itself.
fn proxied_beside_the_hosts_socket(
    test: &str,
    gid: u32,
) -> Option<(Container, Image, SocketProxy)> {
    let docker = require_e2e(test)?;
    let engine = engine(test)?;
    let tiny = tiny_image(&docker);
    let proxy = SocketProxy::start(engine, gid);
    let before = ownership(&proxy.path());
    let mount = format!("{}:/var/run/docker.sock", proxy.path().display());
    let c = workspace(&docker, &["-v", &mount]);
    docker_works_for_dev(&docker, &c, &tiny.tag);
    assert_berths_socket(&c, "/run/berth/docker.sock", "docker");
    outsiders_are_refused(&c, "/run/berth/docker.sock");
    // The CLI finds it through the context berth made current for dev.
    let context = c.exec_ok(&["cat", "/home/dev/.docker/config.json"]);
    assert!(
        context.contains("\"currentContext\": \"berth\""),
        "{context}"
    );
    let groups = stdout(&c.exec_as("dev", &["id", "-G"]));
    assert!(
        !groups.split_whitespace().any(|g| g == gid.to_string()),
        "dev got gid {gid}: {groups}"
    );
    assert_eq!(ownership(&proxy.path()), before, "the host socket changed");
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(
        doctor.contains("Access: proxy:") && doctor.contains("/run/berth/docker.sock"),
        "{doctor}"
    );
    assert!(doctor.contains("No problems found."), "{doctor}");
    Some((c, tiny, proxy))
}

#[test]
fn a_root_owned_socket_gets_berths_own_beside_it() {
    let test = "a_root_owned_socket_gets_berths_own_beside_it";
    let Some((c, _tiny, _proxy)) = proxied_beside_the_hosts_socket(test, 0) else {
        return;
    };
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(doctor.contains("gid 0 is root's group"), "{doctor}");
}

#[test]
fn a_socket_with_the_shadow_gid_never_opens_etc_shadow() {
    let test = "a_socket_with_the_shadow_gid_never_opens_etc_shadow";
    // Debian's shadow group is 42 in the image.
    let Some((c, _tiny, _proxy)) = proxied_beside_the_hosts_socket(test, 42) else {
        return;
    };
    let shadow = c.exec_as("dev", &["head", "-c", "30", "/etc/shadow"]);
    assert!(
        !shadow.status.success(),
        "dev read /etc/shadow: {}",
        both(&shadow)
    );
    let names = stdout(&c.exec_as("dev", &["id", "-Gn"]));
    assert!(!names.split_whitespace().any(|g| g == "shadow"), "{names}");
    // Logged at the default level (warn), naming the group and the choice.
    let logs = c.logs();
    assert!(
        logs.contains("WARN")
            && logs.contains("`shadow`")
            && logs.contains("/run/berth/docker.sock"),
        "{logs}"
    );
}

#[test]
fn a_socket_with_a_gid_the_image_lacks_gets_a_group_and_no_proxy() {
    let test = "a_socket_with_a_gid_the_image_lacks_gets_a_group_and_no_proxy";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine(test) else {
        return;
    };
    let tiny = tiny_image(&docker);
    let proxy = SocketProxy::start(engine, 4242);
    let before = ownership(&proxy.path());
    let mount = format!("{}:/var/run/docker.sock", proxy.path().display());
    let c = workspace(&docker, &["-v", &mount]);
    docker_works_for_dev(&docker, &c, &tiny.tag);
    let line = c.exec_ok(&["getent", "group", "4242"]);
    assert!(
        line.starts_with("docker-host:") && line.ends_with(":4242:dev"),
        "{line}"
    );
    assert!(!c
        .exec(&["test", "-e", "/run/berth/docker.sock"])
        .status
        .success());
    assert_eq!(ownership(&proxy.path()), before, "the host socket changed");
    // dev joined the group at start; doctor (as root) sees it has the gid.
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(
        doctor.contains("Access: the user has gid 4242 already"),
        "{doctor}"
    );
}

/// The tiny image in Podman's own store (`docker save | docker load`
/// through its socket), removed from it on drop.
struct PodmanImage {
    socket: PathBuf,
    tag: String,
}

impl PodmanImage {
    fn load(docker: &Docker, socket: &Path, image: &Image) -> PodmanImage {
        let mut save = docker
            .command(["save", &image.tag])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save");
        let load = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .args(["load", "-q"])
            .stdin(save.stdout.take().expect("stdout"))
            .output()
            .expect("docker load into podman");
        assert!(save.wait().expect("wait").success(), "docker save");
        assert!(load.status.success(), "podman load: {}", both(&load));
        PodmanImage {
            socket: socket.to_owned(),
            tag: image.tag.clone(),
        }
    }
}

impl Drop for PodmanImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .args(["rmi", "-f", &self.tag])
            .output();
    }
}

#[test]
fn podmans_socket_is_a_host_engine() {
    let test = "podmans_socket_is_a_host_engine";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(socket) = podman_socket(test) else {
        return;
    };
    let tiny = tiny_image(&docker);
    let in_podman = PodmanImage::load(&docker, &socket, &tiny);
    let before = ownership(&socket);
    assert_eq!(
        before,
        (0o600, 0, 0),
        "podman's rootful socket is root:root 0600"
    );
    let mount = format!("{}:/var/run/docker.sock", socket.display());
    let c = workspace(&docker, &["-v", &mount]);
    docker_works_for_dev(&docker, &c, &in_podman.tag);
    assert_berths_socket(&c, "/run/berth/docker.sock", "docker");
    assert_eq!(ownership(&socket), before, "podman's socket changed");
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(doctor.contains("Podman Engine"), "{doctor}");
    assert!(doctor.contains("Access: proxy:"), "{doctor}");
    let as_dev = stdout(&c.exec_as("dev", &["berth", "doctor"]));
    assert!(
        as_dev.contains("Podman Engine") && as_dev.contains("berth's own socket"),
        "{as_dev}"
    );
}

#[test]
fn the_hosts_socket_beside_the_default_path_gets_berths_at_it() {
    let test = "the_hosts_socket_beside_the_default_path_gets_berths_at_it";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine(test) else {
        return;
    };
    let tiny = tiny_image(&docker);
    // The docker-outside-of-docker feature's layout: the host's socket at
    // /var/run/docker-host.sock, owned by root.
    let proxy = SocketProxy::start(engine, 0);
    let before = ownership(&proxy.path());
    let mount = format!("{}:/var/run/docker-host.sock", proxy.path().display());
    let c = workspace(&docker, &["-v", &mount]);
    docker_works_for_dev(&docker, &c, &tiny.tag);
    assert_berths_socket(&c, "/var/run/docker.sock", "docker");
    outsiders_are_refused(&c, "/var/run/docker.sock");
    // Found at the default path: no context needed, none written.
    assert!(
        !c.exec(&["test", "-e", "/home/dev/.docker/config.json"])
            .status
            .success(),
        "a context was written although the default path serves"
    );
    assert_eq!(ownership(&proxy.path()), before, "the host socket changed");
    // berth started again in the same container: its old socket is replaced.
    c.stop(10);
    docker.ok(["start", &c.name]);
    wait_for_docker_ps(&c);
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(doctor.contains("berth's own socket (pid 1)"), "{doctor}");
}

/// `GET /healthz` from inside the container, with bash's /dev/tcp.
fn healthz(c: &Container) -> String {
    let out = c.exec(&[
        "bash",
        "-c",
        "exec 3<>/dev/tcp/127.0.0.1/9385; printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
    ]);
    stdout(&out)
}

#[test]
fn the_engine_going_away_and_coming_back() {
    let test = "the_engine_going_away_and_coming_back";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine(test) else {
        return;
    };
    // The host's /run mounted (so an engine restart is seen), with its
    // socket at docker-host.sock, owned by root: berth serves
    // /var/run/docker.sock (/run/docker.sock) in front of it.
    let mut proxy = SocketProxy::start_named(engine, 0, "docker-host.sock");
    let mount = format!("{}:/run", proxy.dir().display());
    let c = workspace(
        &docker,
        &["-v", &mount, "-e", "BERTH_HEALTH_ADDR=127.0.0.1:9385"],
    );
    wait_for_docker_ps(&c);
    assert!(healthz(&c).contains("200"), "{}", healthz(&c));

    proxy.stop_listening();
    let down = c.exec_as("dev", &["docker", "ps"]);
    assert!(!down.status.success());
    assert!(
        both(&down).contains(
            "berth's docker socket cannot reach the engine at unix:///var/run/docker-host.sock"
        ) && both(&down).contains("refused"),
        "{}",
        both(&down)
    );
    // /healthz shares one engine verdict for up to a second: the next one
    // says why.
    let mut health = String::new();
    wait_until(READY, || {
        health = healthz(&c);
        health.contains("503")
    });
    assert!(
        health.contains("503") && health.contains("docker-host.sock") && health.contains("refused"),
        "{health}"
    );
    assert!(c.is_running(), "berth ended with the engine:\n{}", c.logs());

    proxy.resume();
    wait_for_docker_ps(&c);
    assert!(
        wait_until(READY, || healthz(&c).contains("200")),
        "{}",
        healthz(&c)
    );
}

#[test]
fn a_socket_in_a_mounted_directory_is_the_hosts_and_probed_once() {
    let test = "a_socket_in_a_mounted_directory_is_the_hosts_and_probed_once";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine(test) else {
        return;
    };
    let mut proxy = SocketProxy::start(engine, 4242);
    // /var/run -> /run in the image: /var/run/docker.sock and
    // /run/docker.sock are one socket, in a mounted directory.
    let mount = format!("{}:/run:ro", proxy.dir().display());
    let c = workspace(&docker, &["-v", &mount]);
    wait_for_docker_ps(&c);
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(doctor.contains("its directory was mounted in"), "{doctor}");
    assert!(!doctor.contains("earlier dockerd"), "{doctor}");
    // The engine gone: the socket is tried once, not once per path.
    proxy.stop_listening();
    let doctor = stdout(&c.exec(&["berth", "doctor"]));
    assert!(
        doctor.contains("/run/docker.sock is /var/run/docker.sock (the same socket, probed once)"),
        "{doctor}"
    );
    assert_eq!(
        doctor.matches("/var/run/docker.sock is a socket").count(),
        1,
        "{doctor}"
    );
    proxy.resume();
    // `-v /var/run:/host-run` with DOCKER_HOST pointing in.
    let mount = format!("{}:/host-run:ro", proxy.dir().display());
    let c = docker.run_detached(&[
        "-v",
        &mount,
        "-e",
        "DOCKER_HOST=unix:///host-run/docker.sock",
        "--no-healthcheck",
        &workspace_image(),
        "sleep",
        "infinity",
    ]);
    wait_for_docker_ps(&c);
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(
        doctor.contains("/host-run/docker.sock") && doctor.contains("its directory was mounted in"),
        "{doctor}"
    );
    assert!(!doctor.contains("Problems"), "{doctor}");
}

#[test]
fn host_paths_follow_symlinks_across_mounts() {
    let test = "host_paths_follow_symlinks_across_mounts";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine(test) else {
        return;
    };
    let tiny = tiny_image(&docker);
    let volume = docker.volume();
    // The volume holds real/file; /app (a host directory) has links into
    // it and out of every mount, as the container sees paths.
    let fill = docker.run_detached(&[
        "-v".to_string(),
        format!("{}:/vol", volume.name),
        tiny.tag.clone(),
        "sh".into(),
        "-c".into(),
        "mkdir -p /vol/real && echo from-the-worker > /vol/real/file".into(),
    ]);
    assert_eq!(fill.wait_exit_code(READY), 0, "{}", fill.logs());
    let app = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(app.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("/vol/real", app.path().join("link")).expect("link");
    std::os::unix::fs::symlink("/etc", app.path().join("escape")).expect("link");
    let c = docker.run_detached(&[
        "-v".to_string(),
        format!("{}:/var/run/docker.sock", engine.display()),
        "-v".into(),
        format!("{}:/app", app.path().display()),
        "-v".into(),
        format!("{}:/vol", volume.name),
        "--no-healthcheck".into(),
        "-e".into(),
        "BERTH_EXPORT_HOST_PATH=REAL_HOST_DIR=/app/link".into(),
        workspace_image(),
        "sh".into(),
        "-c".into(),
        "echo \"exported=$REAL_HOST_DIR\"; exec sleep infinity".into(),
    ]);
    c.wait_for_log("exported=", READY);
    let host_path = c.exec_ok(&["berth", "host-path", "/app/link"]);
    let mountpoint = docker.ok([
        "volume",
        "inspect",
        "--format",
        "{{.Mountpoint}}",
        &volume.name,
    ]);
    assert_eq!(host_path, format!("{mountpoint}/real"));
    // A sibling started with that path sees the worker's file.
    let sibling = docker.run_detached(&[
        "-v".to_string(),
        format!("{host_path}:/x:ro"),
        tiny.tag.clone(),
        "cat".into(),
        "/x/file".into(),
    ]);
    assert_eq!(sibling.wait_exit_code(READY), 0, "{}", sibling.logs());
    assert_eq!(sibling.logs().trim(), "from-the-worker");
    // Out of every mount: 78, naming the mount it left.
    let escaped = c.exec(&["berth", "host-path", "/app/escape"]);
    assert_eq!(escaped.status.code(), Some(78), "{}", both(&escaped));
    assert!(
        both(&escaped).contains("leaves the mount at /app"),
        "{}",
        both(&escaped)
    );
    // BERTH_EXPORT_HOST_PATH resolves the same way.
    let logs = c.logs();
    assert!(
        logs.lines()
            .any(|l| l == format!("exported={mountpoint}/real")),
        "{logs}"
    );
}
