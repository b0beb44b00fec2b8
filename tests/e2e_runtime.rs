//! Where berth is used: a worker with the host's socket that starts sibling
//! containers on its own data directory (host paths), and the HTTP health
//! endpoint, against a real engine.
//!
//! - BERTH_EXPORT_HOST_PATH gives the command the host path of a bind-mounted
//!   directory and of a named volume; a sibling container started with it sees
//!   the worker's files; `berth host-path` prints the same, and refuses a
//!   directory on no mount (or on a tmpfs) with exit 78, no engine with 69;
//! - BERTH_HEALTH_ADDR: /readyz and /healthz answer 200, and /healthz turns
//!   503 naming the engine when the host socket stops answering.
//!
//! Needs `bash tests/run.sh` (engine and images); see tests/support/mod.rs.

mod support;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::{label, require_e2e, wait_until, workspace_image, Container, Docker};

/// Generous: a loaded 2-core machine starts a container in well under this.
const READY: Duration = Duration::from_secs(60);
/// Where the worker keeps its job files (as in a LaTeX compile service).
const COMPILES: &str = "/var/lib/app/data/compiles";
const HEALTH_PORT: u16 = 9385;

fn engine_socket() -> Option<PathBuf> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    host.strip_prefix("unix://").map(PathBuf::from)
}

/// A unix socket that forwards every connection to the engine's socket: the
/// "host socket" a container gets mounted, which this test can [`stop`]
/// (the listener closes, so connections are refused, as when the host's
/// engine dies) without touching the engine.
///
/// [`stop`]: SocketProxy::stop
struct SocketProxy {
    dir: tempfile::TempDir,
    stopped: Arc<AtomicBool>,
}

impl SocketProxy {
    fn start(target: PathBuf) -> SocketProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path).expect("bind proxy socket");
        // The image's user gets access through berth's group fix.
        std::os::unix::fs::chown(&path, Some(0), Some(4243)).expect("chown proxy socket");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o660)).unwrap();
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if flag.load(Ordering::SeqCst) {
                    // Dropping the listener: later connects are refused.
                    return;
                }
                let target = target.clone();
                thread::spawn(move || {
                    if let Ok(upstream) = UnixStream::connect(&target) {
                        pipe_both_ways(client, upstream);
                    }
                });
            }
        });
        SocketProxy { dir, stopped }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// Stop listening; the socket file stays, as a dead engine's does.
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = UnixStream::connect(self.path());
    }
}

fn pipe_both_ways(a: UnixStream, b: UnixStream) {
    let (mut a_read, mut b_write) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let forward = thread::spawn(move || {
        let _ = io::copy(&mut a_read, &mut b_write);
        let _ = b_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut b_read, mut a_write) = (b, a);
    let _ = io::copy(&mut b_read, &mut a_write);
    let _ = a_write.shutdown(std::net::Shutdown::Write);
    let _ = forward.join();
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// The line after `prefix` in the container's logs (waits for it).
fn logged_value(c: &Container, prefix: &str) -> String {
    c.wait_for_log(prefix, READY);
    let logs = c.logs();
    logs.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{logs}"))
        .trim()
        .to_string()
}

/// The worker's command: write a job file, print the exported host path,
/// then start a sibling on the host's engine with that path and print what
/// it saw (the sibling also leaves a file for the test to find).
fn worker_script(image: &str) -> String {
    format!(
        "set -e; echo from-worker > {COMPILES}/job.txt; \
         echo \"host-dir=$SANDBOXED_COMPILES_HOST_DIR\"; \
         seen=$(docker run --rm --label {label} -v \"$SANDBOXED_COMPILES_HOST_DIR:/job\" \
           --entrypoint sh {image} -c 'cat /job/job.txt; echo from-sibling > /job/result.txt'); \
         echo \"sibling-saw=$seen\"; exec sleep infinity",
        label = label()
    )
}

fn start_worker(docker: &Docker, socket: &Path, mount_source: &str, extra: &[&str]) -> Container {
    let image = workspace_image();
    let mut args: Vec<String> = vec![
        "--no-healthcheck".into(),
        "-v".into(),
        format!("{}:/var/run/docker.sock", socket.display()),
        "-v".into(),
        format!("{mount_source}:{COMPILES}"),
        "--tmpfs".into(),
        "/scratch".into(),
        "-e".into(),
        format!("BERTH_EXPORT_HOST_PATH=SANDBOXED_COMPILES_HOST_DIR={COMPILES}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend([
        image.clone(),
        "sh".into(),
        "-c".into(),
        worker_script(&image),
    ]);
    docker.run_detached(&args)
}

/// `berth host-path DIR` in `c` as `user`: (exit code, stdout, stderr).
fn host_path(c: &Container, user: &str, env: &[&str], dir: &str) -> (i32, String, String) {
    let mut args = vec!["env"];
    args.extend(env);
    args.extend(["berth", "host-path", dir]);
    let out = c.exec_as(user, &args);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn check_refusals(c: &Container) {
    let (code, _, err) = host_path(c, "dev", &[], "/home/dev");
    assert_eq!(code, 78, "not on a mount: {err}");
    assert!(
        err.contains("not on a bind mount or volume") && err.contains("-v /host/dir:/home/dev"),
        "{err}"
    );
    let (code, _, err) = host_path(c, "dev", &[], "/scratch/x");
    assert_eq!(code, 78, "tmpfs: {err}");
    assert!(err.contains("tmpfs"), "{err}");
    let (code, _, err) = host_path(
        c,
        "dev",
        &["DOCKER_HOST=unix:///nonexistent/docker.sock"],
        COMPILES,
    );
    assert_eq!(code, 69, "no engine: {err}");
    assert!(err.contains("/nonexistent/docker.sock"), "{err}");
}

#[test]
fn worker_learns_the_host_path_of_a_bind_mount_and_a_sibling_sees_its_files() {
    let test = "worker_learns_the_host_path_of_a_bind_mount_and_a_sibling_sees_its_files";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket: no socket to mount");
        return;
    };
    let proxy = SocketProxy::start(engine);
    let data = tempfile::tempdir().expect("temp dir");
    // The command runs as dev (uid 1000): let it write there.
    fs::set_permissions(data.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let host_dir = data.path().to_str().expect("utf-8 temp dir").to_string();
    let c = start_worker(&docker, &proxy.path(), &host_dir, &[]);

    assert_eq!(
        logged_value(&c, "host-dir="),
        host_dir,
        "exported host path"
    );
    assert_eq!(logged_value(&c, "sibling-saw="), "from-worker");
    assert_eq!(
        fs::read_to_string(data.path().join("result.txt")).expect("the sibling's file on the host"),
        "from-sibling\n"
    );
    let (code, out, err) = host_path(&c, "dev", &[], COMPILES);
    assert_eq!((code, out.as_str()), (0, host_dir.as_str()), "{err}");
    let (code, out, err) = host_path(&c, "dev", &[], &format!("{COMPILES}/job-1"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{host_dir}/job-1"));
    check_refusals(&c);
}

#[test]
fn worker_learns_the_mountpoint_of_a_named_volume() {
    let test = "worker_learns_the_mountpoint_of_a_named_volume";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket: no socket to mount");
        return;
    };
    let proxy = SocketProxy::start(engine);
    let volume = docker.volume();
    let mountpoint = docker.ok(["volume", "inspect", "-f", "{{.Mountpoint}}", &volume.name]);
    // A fresh volume is root's: the command runs as root here.
    let c = start_worker(&docker, &proxy.path(), &volume.name, &["-e", "BERTH_USER="]);

    assert_eq!(logged_value(&c, "host-dir="), mountpoint);
    assert_eq!(logged_value(&c, "sibling-saw="), "from-worker");
    let (code, out, err) = host_path(&c, "root", &[], COMPILES);
    assert_eq!((code, out.as_str()), (0, mountpoint.as_str()), "{err}");
    let seen = c.exec_ok(&["cat", &format!("{COMPILES}/result.txt")]);
    assert_eq!(seen, "from-sibling");
}

#[test]
fn a_variable_already_set_is_kept_and_a_dir_off_mounts_is_a_warning() {
    let test = "a_variable_already_set_is_kept_and_a_dir_off_mounts_is_a_warning";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket: no socket to mount");
        return;
    };
    let proxy = SocketProxy::start(engine);
    let c = docker.run_detached(&[
        "--no-healthcheck".to_string(),
        "-v".into(),
        format!("{}:/var/run/docker.sock", proxy.path().display()),
        "-e".into(),
        "BERTH_EXPORT_HOST_PATH=KEPT=/srv,OFF=/home/dev".into(),
        "-e".into(),
        "KEPT=/given".into(),
        workspace_image(),
        "sh".into(),
        "-c".into(),
        "echo \"vars=${KEPT}|${OFF:-unset}\"; exec sleep infinity".into(),
    ]);
    assert_eq!(logged_value(&c, "vars="), "/given|unset");
    let logs = c.logs();
    assert!(
        logs.contains("OFF is not set") && logs.contains("-v /host/dir:/home/dev"),
        "no warning naming the fix:\n{logs}"
    );

    // Under the fail policy the same request stops berth with its code.
    let failing = docker.run_detached(&[
        "--no-healthcheck".to_string(),
        "-v".into(),
        format!("{}:/var/run/docker.sock", proxy.path().display()),
        "-e".into(),
        "BERTH_EXPORT_HOST_PATH=OFF=/home/dev".into(),
        "-e".into(),
        "BERTH_ON_DOCKER_FAILURE=fail".into(),
        workspace_image(),
        "true".into(),
    ]);
    assert_eq!(failing.wait_exit_code(READY), 69, "{}", failing.logs());
    assert!(failing.logs().contains("/home/dev"), "{}", failing.logs());
}

// --------------------------------------------------------- health endpoint

/// `GET path` over bash's /dev/tcp inside `c`: (status code, body).
fn http_get(c: &Container, path: &str) -> Option<(u16, String)> {
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{HEALTH_PORT} || exit 7; \
         printf 'GET %s HTTP/1.0\\r\\n\\r\\n' \"$1\" >&3; cat <&3"
    );
    let out = c.exec(&["bash", "-c", &script, "_", path]);
    if !out.status.success() {
        return None;
    }
    let response = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = response.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.trim().to_string();
    Some((status, body))
}

#[test]
fn health_endpoint_reports_the_engine_going_away() {
    let test = "health_endpoint_reports_the_engine_going_away";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket: no socket to mount");
        return;
    };
    let proxy = SocketProxy::start(engine);
    let c = docker.run_detached(&[
        "--no-healthcheck".to_string(),
        "-v".into(),
        format!("{}:/var/run/docker.sock", proxy.path().display()),
        "-e".into(),
        format!("BERTH_HEALTH_ADDR=0.0.0.0:{HEALTH_PORT}"),
        workspace_image(),
        "sleep".into(),
        "infinity".into(),
    ]);
    let mut ready = None;
    wait_until(READY, || {
        ready = http_get(&c, "/readyz");
        matches!(ready, Some((200, _)))
    });
    assert_eq!(
        ready,
        Some((200, "ready".to_string())),
        "logs:\n{}",
        c.logs()
    );
    assert_eq!(http_get(&c, "/healthz"), Some((200, "ok".to_string())));
    assert_eq!(http_get(&c, "/nope").map(|r| r.0), Some(404));

    proxy.stop();
    // /healthz reuses an engine verdict for 1 s (health_server::REUSE): the
    // 503 comes with the first ping after that.
    let mut gone = None;
    wait_until(Duration::from_secs(10), || {
        gone = http_get(&c, "/healthz");
        matches!(gone, Some((503, _)))
    });
    let (status, body) = gone.expect("an answer");
    assert_eq!(status, 503, "{body}");
    eprintln!("e2e_runtime: /healthz with the host socket gone: {body}");
    assert!(
        body.starts_with("engine: unix:///var/run/docker.sock did not answer"),
        "{body}"
    );
    // The command still runs: ready, just not healthy.
    assert_eq!(http_get(&c, "/readyz").map(|r| r.0), Some(200));
}

#[test]
fn with_berths_own_dockerd_paths_are_their_own_host_paths_and_health_pings_it() {
    let test = "with_berths_own_dockerd_paths_are_their_own_host_paths_and_health_pings_it";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let c = docker.run_detached(&[
        "--privileged".to_string(),
        "--no-healthcheck".into(),
        "-e".into(),
        format!("BERTH_HEALTH_ADDR=0.0.0.0:{HEALTH_PORT}"),
        "-e".into(),
        "BERTH_EXPORT_HOST_PATH=JOBS=/srv/./jobs".into(),
        workspace_image(),
        "sh".into(),
        "-c".into(),
        "echo \"jobs=$JOBS\"; exec sleep infinity".into(),
    ]);
    // dind: the engine runs in this container and sees its file system.
    assert_eq!(logged_value(&c, "jobs="), "/srv/jobs");
    let mut health = None;
    wait_until(READY, || {
        health = http_get(&c, "/healthz");
        matches!(health, Some((200, _)))
    });
    assert_eq!(health, Some((200, "ok".to_string())), "logs:\n{}", c.logs());
    assert_eq!(http_get(&c, "/readyz"), Some((200, "ready".to_string())));

    // A hung engine: the ping is bounded, and the answer says so (once the
    // verdict of before, reused for 1 s, has expired).
    c.exec_ok(&["pkill", "-STOP", "-x", "dockerd"]);
    let mut hung = None;
    wait_until(Duration::from_secs(15), || {
        hung = http_get(&c, "/healthz");
        matches!(hung, Some((503, _)))
    });
    c.exec_ok(&["pkill", "-CONT", "-x", "dockerd"]);
    let (status, body) = hung.expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("engine: unix:///var/run/docker.sock did not answer")
            && body.contains("2000 ms"),
        "{body}"
    );
}
