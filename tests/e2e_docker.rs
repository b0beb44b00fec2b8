//! berth's Docker modes against a real engine, checked the way a user would:
//! `docker exec -u dev CONTAINER docker ps`, exit codes, files on volumes,
//! `berth doctor`.
//!
//! - socket mode: the host socket (through a proxy socket this test owns, so
//!   its gid can be chosen without touching the engine's): the group fix,
//!   and berth's own socket for a gid the image gives to another group
//!   (tests/e2e_access.rs has every other owner);
//! - remote mode: tcp with TLS, certificates made here, and a wrong one;
//! - dind: readiness, a SIGKILLed dockerd restarted, `docker stop` reaching
//!   the inner containers, the storage fallback without a volume;
//! - rootless: dockerd under rootlesskit as `dev`;
//! - berth started as a user (`docker run --user`): the image's BERTH_USER
//!   set aside with a warning, the socket with and without its group, the
//!   rootless image without `--user 0`, and ssh:// without an ssh client.
//!
//! The dind, TLS and rootless tests run once per inner engine
//! ([`InnerEngine`]: the bookworm image's docker.io 20.10 and the trixie
//! image's 26.x), as `<test>::bookworm` and `<test>::trixie`.
//!
//! Needs `bash tests/run.sh` (engine and images); see tests/support/mod.rs.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use support::clients::both;
use support::{
    engine_socket, require_e2e, rootless_image, wait_until, workspace_image, Container, Docker,
    InnerEngine, SocketProxy,
};

/// Generous: a loaded 2-core machine starts dockerd in well under this.
const READY: Duration = Duration::from_secs(90);

/// Loads a busybox image (`bb`) into the engine inside `c`, as `user`, with
/// `env` (`DOCKER_HOST=...` for a rootless engine).
fn import_busybox(docker: &Docker, c: &Container, user: &str, env: &[&str]) {
    let busybox = which::which("busybox").expect("busybox-static on the test host");
    let root = tempfile::tempdir().unwrap();
    fs::create_dir(root.path().join("bin")).unwrap();
    fs::copy(&busybox, root.path().join("bin/busybox")).unwrap();
    for tool in ["sh", "sleep", "echo", "cat", "id"] {
        std::os::unix::fs::symlink("busybox", root.path().join("bin").join(tool)).unwrap();
    }
    let mut tar = Command::new("tar")
        .args(["-C", root.path().to_str().unwrap(), "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    let mut args = vec!["exec", "-i", "-u", user];
    for var in env {
        args.extend(["-e", var]);
    }
    args.extend([c.name.as_str(), "docker", "import", "-", "bb:latest"]);
    let out = docker
        .command(args)
        .stdin(tar.stdout.take().unwrap())
        .output()
        .expect("docker import");
    assert!(tar.wait().unwrap().success());
    assert!(
        out.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `docker version` works for `user` in a later `docker exec`
/// session, with nothing exported: what a developer attaching would do.
fn wait_for_inner_docker(c: &Container, user: &str) {
    let ready = wait_until(READY, || {
        c.exec_as(user, &["docker", "version"]).status.success()
    });
    assert!(
        ready,
        "inner Docker did not answer as {user} within {READY:?}; logs:\n{}",
        c.logs()
    );
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn group_line(c: &Container, gid: u32) -> String {
    c.exec_ok(&["getent", "group", &gid.to_string()])
}

// ------------------------------------------------------------- socket mode

fn socket_mode_case(test: &str, gid: u32, expect_access: impl Fn(&Container)) {
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket: no socket to mount");
        return;
    };
    let proxy = SocketProxy::start(engine, gid);
    let before = fs::metadata(proxy.path()).unwrap();
    let mount = format!("{}:/var/run/docker.sock", proxy.path().display());
    let c = docker.run_detached(&[
        "-v",
        &mount,
        "--no-healthcheck",
        "-e",
        "BERTH_LOG_LEVEL=info",
        &workspace_image(),
        "sh",
        "-c",
        "id -un; docker ps --format '{{.ID}}' >/dev/null && echo first-docker-ps-ok; exec sleep infinity",
    ]);
    c.wait_for_log("first-docker-ps-ok", READY);
    let logs = c.logs();
    assert!(
        logs.lines().any(|l| l == "dev"),
        "the command runs as dev:\n{logs}"
    );
    // A later session, as a user would open it: no exports, no sudo.
    let later = c.exec_as("dev", &["docker", "ps", "--format", "{{.ID}}"]);
    assert!(
        later.status.success(),
        "docker exec -u dev docker ps: {}",
        String::from_utf8_lossy(&later.stderr)
    );
    expect_access(&c);
    // Never a chmod: the socket is exactly as it was.
    let after = fs::metadata(proxy.path()).unwrap();
    assert_eq!(after.mode(), before.mode(), "socket mode changed");
    assert_eq!(after.gid(), before.gid(), "socket group changed");
    let doctor = c.exec_ok(&["berth", "doctor"]);
    assert!(doctor.contains("Mode:   socket"), "{doctor}");
}

#[test]
fn socket_mode_with_a_gid_the_image_lacks() {
    // 4242 is in no group of the image: berth creates one for it.
    socket_mode_case("socket_mode_with_a_gid_the_image_lacks", 4242, |c| {
        let line = group_line(c, 4242);
        assert!(
            line.starts_with("docker-host") && line.ends_with(":4242:dev"),
            "{line}"
        );
    });
}

#[test]
fn socket_mode_with_a_gid_another_group_owns() {
    // gid 50 is `staff` in Debian: joining it would grant more than Docker
    // (DESIGN invariant 7), so dev reaches the engine through berth's own
    // socket, and staff is left as it was.
    socket_mode_case("socket_mode_with_a_gid_another_group_owns", 50, |c| {
        assert_eq!(group_line(c, 50), "staff:x:50:");
        let groups = stdout(&c.exec_as("dev", &["id", "-Gn"]));
        assert!(!groups.split_whitespace().any(|g| g == "staff"), "{groups}");
        assert_eq!(
            c.exec_ok(&["stat", "-c", "%a %U %G", "/run/berth/docker.sock"]),
            "660 root docker"
        );
    });
}

// -------------------------------------------------------------------- dind

crate::for_each_inner_engine!(dind_restarts_a_killed_dockerd_and_stops_its_containers_cleanly);
fn dind_restarts_a_killed_dockerd_and_stops_its_containers_cleanly(engine: InnerEngine) {
    let test =
        &format!("dind_restarts_a_killed_dockerd_and_stops_its_containers_cleanly::{engine:?}");
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let data = docker.volume();
    let marks = docker.volume();
    let c = docker.run_detached(&[
        "--privileged".to_string(),
        "-v".into(),
        format!("{}:/var/lib/docker", data.name),
        "-v".into(),
        format!("{}:/marks", marks.name),
        "-e".into(),
        "BERTH_LOG_LEVEL=info".into(),
        engine.workspace_image(),
        "sh".into(),
        "-c".into(),
        "echo $$ > /tmp/main.pid; exec sleep infinity".into(),
    ]);
    wait_for_inner_docker(&c, "dev");
    assert_eq!(
        c.exec_ok(&["docker", "info", "--format", "{{.Driver}}"]),
        "overlay2"
    );
    let health = c.exec_ok(&["berth", "health"]);
    assert!(health.contains("answered"), "berth health: {health}");
    let main_pid = c.exec_ok(&["cat", "/tmp/main.pid"]);

    // dockerd killed: berth restarts it, the command keeps running.
    let first = c.exec_ok(&["pgrep", "-x", "dockerd"]);
    c.exec_ok(&["kill", "-9", &first]);
    let restarted = wait_until(READY, || {
        let now = stdout(&c.exec(&["pgrep", "-x", "dockerd"]));
        !now.is_empty() && now != first && c.exec_as("dev", &["docker", "ps"]).status.success()
    });
    assert!(restarted, "dockerd was not restarted; logs:\n{}", c.logs());
    assert!(
        c.exec(&["kill", "-0", &main_pid]).status.success(),
        "the command died with dockerd"
    );

    // An inner container that needs its SIGTERM to save its work.
    import_busybox(&docker, &c, "dev", &[]);
    c.exec_ok(&[
        "docker", "run", "-d", "--name", "saver", "-v", "/marks:/marks", "bb", "sh", "-c",
        "trap 'echo saved > /marks/saver; exit 0' TERM; echo up > /marks/up; while true; do sleep 0.1; done",
    ]);
    assert!(wait_until(READY, || c
        .exec(&["test", "-f", "/marks/up"])
        .status
        .success()));
    let took = c.stop(10);
    eprintln!("e2e_docker: docker stop of a dind workspace with a trapping inner container took {took:.2?}");
    let check = docker.run_detached(&[
        "-v".to_string(),
        format!("{}:/marks", marks.name),
        "--entrypoint".into(),
        "cat".into(),
        engine.workspace_image(),
        "/marks/saver".into(),
    ]);
    assert_eq!(
        check.wait_exit_code(READY),
        0,
        "no marker: the inner container never got SIGTERM; logs:\n{}",
        c.logs()
    );
    assert_eq!(check.logs().trim(), "saved");
    assert_eq!(
        c.inspect("{{.State.ExitCode}}"),
        "143",
        "sleep got SIGTERM from docker stop"
    );
}

crate::for_each_inner_engine!(dind_without_a_volume_reports_the_storage_fallback);
fn dind_without_a_volume_reports_the_storage_fallback(engine: InnerEngine) {
    let test = &format!("dind_without_a_volume_reports_the_storage_fallback::{engine:?}");
    let Some(docker) = require_e2e(test) else {
        return;
    };
    // The image declares a volume for /var/lib/docker; a data root elsewhere
    // sits on the container's own overlay root, as without that volume.
    let c = docker.run_detached(&[
        "--privileged",
        "--no-healthcheck",
        "-e",
        "BERTH_DOCKERD_DATA_ROOT=/var/lib/docker-on-overlay",
        &engine.workspace_image(),
        "sleep",
        "infinity",
    ]);
    wait_for_inner_docker(&c, "dev");
    let driver = c.exec_ok(&["docker", "info", "--format", "{{.Driver}}"]);
    assert!(
        driver == "vfs" || driver == "fuse-overlayfs",
        "driver {driver}"
    );
    let logs = c.logs();
    assert!(
        logs.contains("overlay") && logs.contains("volume"),
        "no warning naming the fix:\n{logs}"
    );
    let doctor = c.exec(&[
        "env",
        "BERTH_DOCKERD_DATA_ROOT=/var/lib/docker-on-overlay",
        "berth",
        "doctor",
    ]);
    let report = stdout(&doctor);
    assert!(
        report.contains("fix:") && report.contains("/var/lib/docker-on-overlay"),
        "{report}"
    );
}

/// Well inside which a second container on a volume in use must be refused
/// (the refusal takes a lock probe; before, containerd hung for the whole
/// 60 s readiness timeout). A bound on a hang, not a benchmark.
const REFUSED_WITHIN: Duration = Duration::from_secs(20);

crate::for_each_inner_engine!(a_second_container_on_a_data_root_in_use_is_refused_at_once);
/// Two privileged workspaces on one `/var/lib/docker` volume (the README's
/// quick start, started twice): the second's engine would wait forever on the
/// bolt databases the first one's holds. berth refuses it before containerd
/// starts, naming the data root, the locked file and the fix: exit 69 under
/// the fail policy, the command without Docker (and no containerd left
/// behind) under warn; `berth doctor` lists it as a problem there and not in
/// the first container, whose engine keeps working and comes back after
/// `docker restart` (its own old locks are gone by then).
fn a_second_container_on_a_data_root_in_use_is_refused_at_once(engine: InnerEngine) {
    let test = &format!("a_second_container_on_a_data_root_in_use_is_refused_at_once::{engine:?}");
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let data = docker.volume();
    let on_the_volume = |extra: &[&str], command: &[&str]| {
        let mut args: Vec<String> = vec![
            "--privileged".into(),
            "--no-healthcheck".into(),
            "-v".into(),
            format!("{}:/var/lib/docker", data.name),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(engine.workspace_image());
        args.extend(command.iter().map(|a| a.to_string()));
        args
    };
    let first = docker.run_detached(&on_the_volume(&[], &["sleep", "infinity"]));
    wait_for_inner_docker(&first, "dev");

    // fail: exit 69 with the data root, the file and the fix named.
    let failing = docker.run_detached(&on_the_volume(
        &["-e", "BERTH_ON_DOCKER_FAILURE=fail"],
        &["echo", "the-command-ran"],
    ));
    assert_eq!(
        failing.wait_exit_code(REFUSED_WITHIN),
        69,
        "{}",
        failing.logs()
    );
    let logs = failing.logs();
    for needle in [
        "the data root /var/lib/docker is in use by another Docker engine",
        "/var/lib/docker/containerd/daemon/io.containerd.metadata.v1.bolt/meta.db",
        "-v berth-docker-$NAME:/var/lib/docker",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in:\n{logs}");
    }
    assert!(!logs.contains("the-command-ran"), "{logs}");
    assert!(
        !logs.contains("did not answer"),
        "waited for a readiness timeout:\n{logs}"
    );

    // warn (the default): the command runs without Docker, and no daemon of
    // the refused engine was started (or is left).
    let warning = docker.run_detached(&on_the_volume(
        &[],
        &[
            "sh",
            "-c",
            "echo the-command-ran; pgrep -l 'containerd|dockerd' || echo no-daemons",
        ],
    ));
    assert_eq!(
        warning.wait_exit_code(REFUSED_WITHIN),
        0,
        "{}",
        warning.logs()
    );
    let logs = warning.logs();
    assert!(
        logs.contains("in use by another Docker engine")
            && logs.contains("the-command-ran")
            && logs.contains("no-daemons"),
        "{logs}"
    );

    // doctor: a problem with its fix beside the volume, none in the first.
    let mut doctor: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--label".into(),
        support::label(),
    ];
    doctor.extend(on_the_volume(&[], &["doctor"]));
    let out = docker.output(&doctor);
    let report = stdout(&out);
    let problems = report
        .split_once("Problems (")
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("doctor lists no problems:\n{report}"));
    assert!(
        problems.contains("in use by another Docker engine")
            && problems.contains("berth-docker-$NAME"),
        "{report}"
    );
    assert_eq!(out.status.code(), Some(1), "{report}");
    let own = stdout(&first.exec(&["berth", "doctor"]));
    assert!(
        !own.contains("in use by"),
        "its own engine taken for another:\n{own}"
    );
    assert!(own.contains("this container's engine"), "{own}");

    // The first engine kept working, and survives a restart of its container.
    first.exec_ok(&["docker", "volume", "create", "still-works"]);
    docker.ok(["restart", "-t", "10", &first.name]);
    wait_for_inner_docker(&first, "dev");
    assert_eq!(
        first.exec_ok(&["docker", "volume", "ls", "-q"]),
        "still-works",
        "{}",
        first.logs()
    );
}

/// An MTU below 1500 on the container's default route must reach the
/// networks a user creates inside, not only the default bridge: dockerd's
/// `--mtu` covers docker0 alone, `--default-network-opt
/// bridge=com.docker.network.driver.mtu=N` (dockerd 24+, so the trixie image)
/// the rest.
#[test]
fn dind_user_defined_networks_get_the_default_routes_mtu() {
    let test = "dind_user_defined_networks_get_the_default_routes_mtu";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let net = docker.network_with(&["-o", "com.docker.network.driver.mtu=1400"]);
    let data = docker.volume();
    let c = docker.run_detached(&[
        "--privileged".to_string(),
        "--network".into(),
        net.name.clone(),
        "-v".into(),
        format!("{}:/var/lib/docker", data.name),
        "-e".into(),
        "BERTH_LOG_LEVEL=info".into(),
        InnerEngine::Trixie.workspace_image(),
        "sleep".into(),
        "infinity".into(),
    ]);
    wait_for_inner_docker(&c, "dev");
    assert_eq!(c.exec_ok(&["cat", "/sys/class/net/eth0/mtu"]), "1400");
    c.exec_ok(&["docker", "network", "create", "user-defined"]);
    let mtu = c.exec_ok(&[
        "docker",
        "network",
        "inspect",
        "user-defined",
        "--format",
        "{{index .Options \"com.docker.network.driver.mtu\"}}",
    ]);
    assert_eq!(mtu, "1400", "berth's log:\n{}", c.logs());
}

// ------------------------------------------------------------ TLS, remote

/// Certificates made by the test itself, through berth's own TLS code.
fn make_certs(dir: &Path, hostname: &str) {
    berth::tls::ensure_certs(
        &berth::tls::TlsRequest {
            certdir: dir.to_path_buf(),
            hostname: hostname.to_string(),
            ip_addresses: Vec::new(),
            extra_sans: Vec::new(),
            client_owner: Some((1000, 1000)),
            now: SystemTime::now(),
        },
        &berth::NixSyscall,
    )
    .expect("certificates");
}

crate::for_each_inner_engine!(remote_engine_over_tls_and_a_wrong_certificate);
fn remote_engine_over_tls_and_a_wrong_certificate(engine: InnerEngine) {
    let test = &format!("remote_engine_over_tls_and_a_wrong_certificate::{engine:?}");
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let net = docker.network();
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path(), "dind-server");
    let server = docker.run_detached(&[
        "--privileged".to_string(),
        "--network".into(),
        net.name.clone(),
        "--network-alias".into(),
        "dind-server".into(),
        "--hostname".into(),
        "dind-server".into(),
        "-v".into(),
        format!("{}:/certs", certs.path().display()),
        "-e".into(),
        "DOCKER_TLS_CERTDIR=/certs".into(),
        engine.workspace_image(),
        "sleep".into(),
        "infinity".into(),
    ]);
    wait_for_inner_docker(&server, "dev");

    let client = |cert_dir: &Path, policy: &str, command: &str| {
        docker.run_detached(&[
            "--network".to_string(),
            net.name.clone(),
            "--no-healthcheck".into(),
            "-v".into(),
            format!("{}:/client:ro", cert_dir.display()),
            "-e".into(),
            "DOCKER_HOST=tcp://dind-server:2376".into(),
            "-e".into(),
            "DOCKER_TLS_VERIFY=1".into(),
            "-e".into(),
            "DOCKER_CERT_PATH=/client".into(),
            "-e".into(),
            format!("BERTH_ON_DOCKER_FAILURE={policy}"),
            engine.workspace_image(),
            "sh".into(),
            "-c".into(),
            command.into(),
        ])
    };
    // With the client certificates berth's dind made: it works.
    let good = client(
        &certs.path().join("client"),
        "fail",
        "docker version --format 'server {{.Server.Version}}'",
    );
    assert_eq!(good.wait_exit_code(READY), 0, "logs:\n{}", good.logs());
    assert!(good.logs().contains("server "), "{}", good.logs());
    let doctor = client(&certs.path().join("client"), "fail", "berth doctor");
    doctor.wait_exit_code(READY);
    assert!(
        doctor.logs().contains("Mode:   remote"),
        "{}",
        doctor.logs()
    );

    // A client certificate from another CA: refused, and berth says why.
    let other = tempfile::tempdir().unwrap();
    make_certs(other.path(), "elsewhere");
    let bad = client(&other.path().join("client"), "fail", "docker version");
    assert_eq!(
        bad.wait_exit_code(READY),
        69,
        "BERTH_ON_DOCKER_FAILURE=fail exits 69; logs:\n{}",
        bad.logs()
    );
    let logs = bad.logs().to_lowercase();
    assert!(
        logs.contains("certificate") || logs.contains("tls"),
        "no TLS diagnosis:\n{logs}"
    );
    // berth doctor names the problem too (and exits 1: no way to Docker).
    let doctor = client(&other.path().join("client"), "warn", "berth doctor");
    assert_eq!(doctor.wait_exit_code(READY), 1, "{}", doctor.logs());
    let report = doctor.logs();
    assert!(
        report.contains("Mode:   none") && report.contains("Problems"),
        "{report}"
    );
    assert!(report.to_lowercase().contains("certificate"), "{report}");
    // Without client certificates at all: refused too.
    let none = docker.run_detached(&[
        "--network".to_string(),
        net.name.clone(),
        "--no-healthcheck".into(),
        "-e".into(),
        "BERTH_DOCKER=off".into(),
        engine.workspace_image(),
        "sh".into(),
        "-c".into(),
        "docker -H tcp://dind-server:2376 version".into(),
    ]);
    assert_ne!(
        none.wait_exit_code(READY),
        0,
        "the engine answered without a client certificate"
    );
}

/// A remote engine over TLS whose client key only uid 1000 may read, and a
/// command run as another user (issue 13): berth, as root, reaches the
/// engine, but the user's `docker` fails with "permission denied". berth
/// warns at start and `berth doctor --user nobody` names the file, its
/// owner and mode, and the user; before, neither said anything.
#[test]
fn remote_tls_key_the_commands_user_cannot_read_is_named() {
    let test = "remote_tls_key_the_commands_user_cannot_read_is_named";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let net = docker.network();
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path(), "dind-server");
    let key = certs.path().join("client/key.pem");
    assert_eq!(
        (
            fs::metadata(&key).unwrap().uid(),
            fs::metadata(&key).unwrap().mode() & 0o777
        ),
        (1000, 0o600),
        "the client key is uid 1000's alone"
    );
    let server = docker.run_detached(&[
        "--privileged".to_string(),
        "--network".into(),
        net.name.clone(),
        "--network-alias".into(),
        "dind-server".into(),
        "--hostname".into(),
        "dind-server".into(),
        "-v".into(),
        format!("{}:/certs", certs.path().display()),
        "-e".into(),
        "DOCKER_TLS_CERTDIR=/certs".into(),
        workspace_image(),
        "sleep".into(),
        "infinity".into(),
    ]);
    wait_for_inner_docker(&server, "dev");
    let client = docker.run_detached(&[
        "--network".to_string(),
        net.name.clone(),
        "--no-healthcheck".into(),
        "-v".into(),
        format!("{}:/client:ro", certs.path().join("client").display()),
        "-e".into(),
        "DOCKER_HOST=tcp://dind-server:2376".into(),
        "-e".into(),
        "DOCKER_TLS_VERIFY=1".into(),
        "-e".into(),
        "DOCKER_CERT_PATH=/client".into(),
        "-e".into(),
        "BERTH_USER=nobody".into(),
        workspace_image(),
        "sh".into(),
        "-c".into(),
        "id -un; docker version >/dev/null 2>&1 || echo user-docker-failed; exec sleep infinity"
            .into(),
    ]);
    client.wait_for_log("user-docker-failed", READY);
    let logs = client.logs();
    assert!(
        logs.contains("/client/key.pem is mode 0600, owned by uid 1000")
            && logs.contains("nobody (uid 65534"),
        "a warning at start names the file, owner, mode and user:\n{logs}"
    );
    let doctor = client.exec(&["berth", "doctor", "--user", "nobody"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    let problems = report.split("Problems").nth(1).unwrap_or_default();
    assert!(
        problems.contains("/client/key.pem is mode 0600, owned by uid 1000 gid 1000")
            && problems.contains("the command's user nobody (uid 65534")
            && problems.contains("cannot read it"),
        "{report}"
    );
    // The key's owner reads it: no such problem for dev.
    let doctor = client.exec(&["berth", "doctor", "--user", "dev"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(!report.contains("cannot read it"), "{report}");
}

// ---------------------------------------------------------------- rootless

crate::for_each_inner_engine!(rootless_workspace_runs_an_inner_container);
fn rootless_workspace_runs_an_inner_container(engine: InnerEngine) {
    let test = &format!("rootless_workspace_runs_an_inner_container::{engine:?}");
    let Some(docker) = require_e2e(test) else {
        return;
    };
    // berth starts as root to prepare what only root can (the container's
    // /dev/net/tun for dev), then runs rootlesskit and the command as dev.
    let c = docker.run_detached(&[
        "--privileged",
        "--user",
        "0",
        "--no-healthcheck",
        "-e",
        "BERTH_LOG_LEVEL=info",
        &engine.rootless_image(),
        "sleep",
        "infinity",
    ]);
    // A later `docker exec -u dev` session, with nothing exported by hand:
    // the image's DOCKER_HOST names the rootless socket.
    wait_for_inner_docker(&c, "dev");
    let info = c.exec_as(
        "dev",
        &["docker", "info", "--format", "{{.SecurityOptions}}"],
    );
    assert!(stdout(&info).contains("rootless"), "{}", stdout(&info));
    import_busybox(&docker, &c, "dev", &[]);
    let out = c.exec_as("dev", &["docker", "run", "--rm", "bb", "echo", "inner-ok"]);
    assert_eq!(
        stdout(&out),
        "inner-ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rootless under `--security-opt no-new-privileges` (issue 13): newuidmap
/// cannot gain its privilege, so rootless dockerd cannot start. berth says
/// so, with the fix, in its exit-69 message and in `berth doctor` (before:
/// rootlesskit's raw "write to uid_map failed", and doctor said newuidmap
/// was ok).
#[test]
fn rootless_under_no_new_privileges_says_to_drop_it() {
    let test = "rootless_under_no_new_privileges_says_to_drop_it";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let nnp = [
        "--privileged",
        "--user",
        "0",
        "--security-opt",
        "no-new-privileges",
        "--no-healthcheck",
    ];
    let mut args: Vec<String> = nnp.iter().map(|a| a.to_string()).collect();
    args.extend([rootless_image(), "docker".into(), "info".into()]);
    let c = docker.run_detached(&args);
    assert_eq!(c.wait_exit_code(READY), 69, "{}", c.logs());
    let logs = c.logs();
    assert!(
        logs.contains("newuidmap") && logs.contains("runs with no-new-privileges"),
        "the exit-69 message names the cause:\n{logs}"
    );
    assert!(
        logs.contains(
            "drop no-new-privileges: `docker run --security-opt no-new-privileges=false`"
        ),
        "and the fix:\n{logs}"
    );
    assert!(
        !logs.contains("[rootlesskit:"),
        "rootlesskit never ran:\n{logs}"
    );

    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--label".into(),
        support::label(),
    ];
    args.extend(nnp.iter().map(|a| a.to_string()));
    args.extend([
        "--entrypoint".into(),
        "/usr/local/bin/berth".into(),
        rootless_image(),
        "doctor".into(),
    ]);
    let out = docker.output(&args);
    let report = String::from_utf8_lossy(&out.stdout);
    let problems = report.split("Problems").nth(1).unwrap_or_default();
    assert!(
        problems.contains("newuidmap") && problems.contains("no-new-privileges"),
        "doctor lists newuidmap as a problem:\n{report}"
    );
    assert!(problems.contains("fix: drop no-new-privileges"), "{report}");
}

// ------------------------------------------------ berth as the container's init

/// The run and `berth doctor` come from one decision (issues 11 and 13):
/// under `docker run --init` (docker-init is PID 1, berth its child) in a
/// privileged container berth is the container's init, so the run starts
/// dockerd and doctor's plan says it will (before, doctor said so and the
/// run did not). In a `docker exec` session into a privileged container
/// whose PID 1 is not berth, both say berth is not its init and start
/// nothing: someone running berth by hand.
#[test]
fn the_run_and_doctor_share_the_init_decision() {
    let test = "the_run_and_doctor_share_the_init_decision";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let c = dind_with(
        &docker,
        workspace_image(),
        &["--init", "-e", "BERTH_LOG_LEVEL=info"],
    );
    assert!(
        c.logs().contains(
            "berth is this container's init: it was started by the container's PID 1 (docker-init)"
        ),
        "{}",
        c.logs()
    );
    let doctor = docker.output([
        "run",
        "--rm",
        "--label",
        &support::label(),
        "--init",
        "--privileged",
        "--entrypoint",
        "/usr/local/bin/berth",
        &workspace_image(),
        "doctor",
    ]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        report.contains("Mode:   dind")
            && report.contains("Plan:   run pre-flight and start dockerd"),
        "{report}"
    );
    assert!(
        report.contains("berth is this container's init"),
        "{report}"
    );
    // A `docker exec` session into that container: the engine berth
    // started, running, is dind, not a mounted host socket (berth is not
    // PID 1 here: docker-init is, dockerd is berth's child).
    for user in ["root", "dev"] {
        let report = stdout(&c.exec_as(user, &["berth", "doctor"]));
        assert!(
            report.contains("Mode:   dind (berth's own dockerd, running, pid "),
            "{user}:\n{report}"
        );
        assert!(!report.contains("mounted host socket"), "{user}:\n{report}");
    }

    let c = docker.run_detached(&[
        "--privileged".to_string(),
        "--no-healthcheck".into(),
        "--entrypoint".into(),
        "sleep".into(),
        workspace_image(),
        "infinity".into(),
    ]);
    let doctor = c.exec(&["berth", "doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(
        report.contains(
            "Mode:   none (dind detected, not started: berth is not this container's init)"
        ) && report.contains("`docker exec`"),
        "{report}"
    );
    let run = c.exec(&["berth", "--", "true"]);
    assert_eq!(run.status.code(), Some(0));
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(
        said.contains("berth is not this container's init") && said.contains("BERTH_DOCKER=dind"),
        "{said}"
    );
    assert!(
        !c.exec(&["pgrep", "-x", "dockerd"]).status.success(),
        "no dockerd was started"
    );
}

// ------------------------------------------------------- the user's own TCP listener

/// What dockerd 20.10 prints before its 15 s sleep on an insecure TCP
/// listener nobody asked for by name (cmd/dockerd/daemon.go, loadListeners).
const SLOWED_DOWN: &str = "intentionally being slowed down";

/// A privileged dind workspace with `env`, started with `sleep infinity`,
/// ready for `docker exec -u dev ... docker`.
fn dind_with(docker: &Docker, image: String, extra: &[&str]) -> Container {
    let mut args: Vec<String> = vec!["--privileged".into(), "--no-healthcheck".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend([image, "sleep".into(), "infinity".into()]);
    let c = docker.run_detached(&args);
    wait_for_inner_docker(&c, "dev");
    c
}

crate::for_each_inner_engine!(dind_with_a_tcp_host_in_the_dockerd_args_is_fast_and_says_so);
/// A TCP listener in BERTH_DOCKERD_ARGS (issue 13): berth recognises it,
/// passes --tls=false so dockerd does not sleep 15 s first, and says so; the
/// engine answers on that listener. Before, dockerd slept ("intentionally
/// being slowed down") and berth said nothing.
fn dind_with_a_tcp_host_in_the_dockerd_args_is_fast_and_says_so(engine: InnerEngine) {
    let test = &format!("dind_with_a_tcp_host_in_the_dockerd_args_is_fast_and_says_so::{engine:?}");
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let started = std::time::Instant::now();
    let c = dind_with(
        &docker,
        engine.workspace_image(),
        &[
            "-e",
            "DOCKER_TLS_CERTDIR=",
            "-e",
            "BERTH_DOCKERD_ARGS=--host=tcp://0.0.0.0:2375",
            "-e",
            "BERTH_LOG_LEVEL=warn,dockerd=info",
        ],
    );
    eprintln!(
        "e2e_docker: {test}: inner docker answered {:.2?} after docker run",
        started.elapsed()
    );
    let version = c.exec_ok(&[
        "docker",
        "-H",
        "tcp://127.0.0.1:2375",
        "version",
        "--format",
        "{{.Server.Version}}",
    ]);
    assert!(!version.is_empty(), "the TCP listener answers");
    let logs = c.logs();
    assert!(
        logs.contains("tcp://0.0.0.0:2375 (from BERTH_DOCKERD_ARGS)")
            && logs.contains("berth passes --tls=false"),
        "berth says what it did with the listener:\n{logs}"
    );
    assert!(!logs.contains(SLOWED_DOWN), "dockerd slept:\n{logs}");
}

/// The same listener in daemon.json's hosts, the way a user configures
/// dockerd elsewhere: berth passes no --host of its own (dockerd refused to
/// start on "specified both as a flag and in the configuration file:
/// hosts"), the listener is fast and said; and with DOCKER_TLS_CERTDIR a
/// listener in the flags (with a space, as shell words) gets berth's TLS.
#[test]
fn dind_with_tcp_hosts_in_daemon_json_or_with_tls() {
    let test = "dind_with_tcp_hosts_in_daemon_json_or_with_tls";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let conf = tempfile::tempdir().unwrap();
    fs::set_permissions(conf.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let json = conf.path().join("daemon.json");
    fs::write(
        &json,
        r#"{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}"#,
    )
    .unwrap();
    fs::set_permissions(&json, fs::Permissions::from_mode(0o644)).unwrap();
    let mount = format!("{}:/etc/docker/daemon.json:ro", json.display());
    let c = dind_with(
        &docker,
        workspace_image(),
        &[
            "-v",
            &mount,
            "-e",
            "DOCKER_TLS_CERTDIR=",
            "-e",
            "BERTH_LOG_LEVEL=info,dockerd=info",
        ],
    );
    c.exec_ok(&["docker", "-H", "tcp://127.0.0.1:2375", "version"]);
    let logs = c.logs();
    assert!(
        logs.contains("tcp://0.0.0.0:2375 (from /etc/docker/daemon.json)")
            && logs.contains("berth passes no --host of its own"),
        "{logs}"
    );
    assert!(!logs.contains(SLOWED_DOWN), "dockerd slept:\n{logs}");

    let certs = docker.volume();
    let c = dind_with(
        &docker,
        workspace_image(),
        &[
            "-v",
            &format!("{}:/certs", certs.name),
            "-e",
            "DOCKER_TLS_CERTDIR=/certs",
            "-e",
            "BERTH_DOCKERD_ARGS=--label 'berth.test=tcp and tls' -H tcp://0.0.0.0:2377",
            "-e",
            "BERTH_LOG_LEVEL=info",
        ],
    );
    let tls = [
        "docker",
        "--tlsverify",
        "--tlscacert=/certs/client/ca.pem",
        "--tlscert=/certs/client/cert.pem",
        "--tlskey=/certs/client/key.pem",
        "-H",
        "tcp://127.0.0.1:2377",
        "info",
        "--format",
        "{{.Labels}}",
    ];
    let labels = c.exec_ok(&tls);
    assert!(
        labels.contains("berth.test=tcp and tls"),
        "one word, spaces kept: {labels}"
    );
    let plain = c.exec(&["docker", "-H", "tcp://127.0.0.1:2377", "version"]);
    assert!(!plain.status.success(), "the listener wants TLS");
    let logs = c.logs();
    assert!(
        logs.contains("with TLS: berth gives it the certificates"),
        "{logs}"
    );
}

#[test]
fn a_dockerd_that_cannot_start_is_explained_and_the_policy_decides() {
    let test = "a_dockerd_that_cannot_start_is_explained_and_the_policy_decides";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let run = |policy: &str| {
        docker.run_detached(&[
            "--privileged".to_string(),
            "--no-healthcheck".into(),
            "-e".into(),
            "BERTH_DOCKERD_ARGS=--no-such-flag".into(),
            "-e".into(),
            format!("BERTH_ON_DOCKER_FAILURE={policy}"),
            workspace_image(),
            "sh".into(),
            "-c".into(),
            "echo the-command-ran".into(),
        ])
    };
    // fail: berth exits 69 and says why, in dockerd's own words.
    let failing = run("fail");
    assert_eq!(failing.wait_exit_code(READY), 69, "{}", failing.logs());
    let logs = failing.logs();
    assert!(
        logs.contains("no-such-flag"),
        "dockerd's error is not quoted:\n{logs}"
    );
    assert!(!logs.contains("the-command-ran"), "{logs}");
    // warn (the default): one warning, and the command runs without Docker.
    let warning = run("warn");
    assert_eq!(warning.wait_exit_code(READY), 0, "{}", warning.logs());
    let logs = warning.logs();
    assert!(
        logs.contains("the-command-ran") && logs.contains("no-such-flag"),
        "{logs}"
    );
}

/// Where docker-in-docker cannot work, berth says which piece is missing and
/// what to change, in its log (exit 69: the mode or the confinement was
/// asked for by name) and in `berth doctor` (exit 1, the fix listed): no
/// CAP_SYS_ADMIN, a read-only cgroup fs, and AppArmor required on a kernel
/// without it (this machine's).
#[test]
fn dind_that_cannot_work_says_what_to_change() {
    let test = "dind_that_cannot_work_says_what_to_change";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let cases: [(&str, &[&str], &[&str]); 3] = [
        (
            "no CAP_SYS_ADMIN",
            &["-e", "BERTH_DOCKER=dind"],
            &["CAP_SYS_ADMIN is not effective", "--privileged"],
        ),
        (
            "read-only cgroup fs",
            &[
                "--cap-add",
                "SYS_ADMIN",
                "--cap-add",
                "NET_ADMIN",
                "-e",
                "BERTH_DOCKER=dind",
            ],
            &["not writable (read-only cgroup mounts)", "--privileged"],
        ),
        (
            "AppArmor required, kernel without it",
            &["--privileged", "-e", "BERTH_APPARMOR=require"],
            &["BERTH_APPARMOR=require", "AppArmor is off in this kernel"],
        ),
    ];
    for (what, args, said) in cases {
        let mut run: Vec<String> = vec!["--no-healthcheck".into()];
        run.extend(args.iter().map(|a| a.to_string()));
        run.extend([workspace_image(), "echo".into(), "the-command-ran".into()]);
        let c = docker.run_detached(&run);
        assert_eq!(c.wait_exit_code(READY), 69, "{what}:\n{}", c.logs());
        let logs = c.logs();
        for needle in said {
            assert!(logs.contains(needle), "{what}: no {needle:?} in:\n{logs}");
        }
        assert!(!logs.contains("the-command-ran"), "{what}:\n{logs}");
        // doctor, in the same container settings: the same words, as a problem with its fix.
        let mut doctor: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--label".into(),
            support::label(),
        ];
        doctor.extend(args.iter().map(|a| a.to_string()));
        doctor.extend([workspace_image(), "doctor".into()]);
        let out = docker.output(&doctor);
        let report = stdout(&out);
        let problems = report
            .split_once("Problems (")
            .map(|(_, p)| p)
            .unwrap_or_else(|| panic!("{what}: doctor lists no problems:\n{report}"));
        for needle in said {
            assert!(
                problems.contains(needle),
                "{what}: doctor's problems lack {needle:?}:\n{report}"
            );
        }
        assert!(problems.contains("fix:"), "{what}:\n{report}");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: doctor's exit\n{report}"
        );
    }
}

/// The part of doctor's report after "Problems (N):", or a panic naming `what`.
fn problems_of<'a>(what: &str, report: &'a str) -> &'a str {
    report
        .split_once("\nProblems (")
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{what}: doctor lists no problems:\n{report}"))
}

/// `berth doctor` names what bears on the mode at hand, its fix first
/// (the new-user trial): the README's `docker run --rm IMAGE berth doctor`
/// (as dev, no rootlesskit in the image) and `docker exec` as root list
/// the one real problem, not six rootless prerequisites; a mounted socket
/// whose engine is gone is the first problem, refused, with "restart the
/// engine", not dind advice or "mount the host socket"; a DOCKER_HOST path
/// with nothing there says so; `--user dev` with a root:root socket leads
/// with "run berth as root", in doctor and in the run's warning.
#[test]
fn doctor_leads_with_the_fix_that_applies() {
    let test = "doctor_leads_with_the_fix_that_applies";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let doctor = |args: &[&str]| {
        let mut all: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--label".into(),
            support::label(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all.push(workspace_image());
        // With berth as the entrypoint, `doctor` is its subcommand; else
        // the image's berth runs `berth doctor` as its command.
        if !args.contains(&"--entrypoint") {
            all.push("berth".into());
        }
        all.push("doctor".into());
        let out = docker.output(&all);
        (out.status.code(), stdout(&out))
    };
    // 1. No engine anywhere, as the image's user (berth as PID 1 runs
    // `berth doctor` as dev), then berth itself as root.
    let as_root: &[&str] = &[
        "--entrypoint",
        "/usr/local/bin/berth",
        "-e",
        "BERTH_USER=dev",
    ];
    for user in [&[][..], as_root] {
        let (code, report) = doctor(user);
        assert_eq!(code, Some(1), "{report}");
        let problems = problems_of("no engine", &report);
        assert!(
            problems.starts_with("1):") && problems.contains("no engine answers"),
            "{user:?}:\n{report}"
        );
        assert!(
            report.contains("rootlesskit"),
            "still in the evidence:\n{report}"
        );
    }
    // 2. A mounted socket nothing listens on (its engine gone).
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let stale = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    fs::set_permissions(&stale, fs::Permissions::from_mode(0o666)).unwrap();
    let hostrun = format!("{}:/hostrun/docker.sock", stale.display());
    let default = format!("{}:/var/run/docker.sock", stale.display());
    let cases: [&[&str]; 2] = [
        &[
            "-v",
            &hostrun,
            "-e",
            "DOCKER_HOST=unix:///hostrun/docker.sock",
        ],
        &["-v", &default],
    ];
    for args in cases {
        let (code, report) = doctor(args);
        assert_eq!(code, Some(1), "{report}");
        let problems = problems_of("stale socket", &report);
        let first = problems.lines().nth(1).unwrap_or_default();
        assert!(first.contains("refuses connections"), "{args:?}:\n{report}");
        assert!(problems.contains("restart the engine"), "{report}");
        assert!(!report.contains("make that dockerd listen"), "{report}");
        assert!(!problems.contains("fix: mount the host socket"), "{report}");
    }
    let (_, report) = doctor(&["-e", "DOCKER_HOST=unix:///nonexistent.sock"]);
    let problems = problems_of("nonexistent DOCKER_HOST", &report);
    assert!(
        problems
            .lines()
            .nth(1)
            .unwrap_or_default()
            .contains("nothing exists at /nonexistent.sock"),
        "{report}"
    );
    assert!(!report.contains("make that dockerd listen"), "{report}");
    // 4. A live root:root 0660 socket, berth run as dev.
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket to mount");
        return;
    };
    let proxy = SocketProxy::start(engine, 0);
    let mount = format!("{}:/var/run/docker.sock", proxy.path().display());
    let (_, report) = doctor(&["--user", "dev", "-v", &mount]);
    let problems = problems_of("root:root socket", &report);
    assert!(
        problems
            .lines()
            .nth(1)
            .unwrap_or_default()
            .contains("permission denied"),
        "{report}"
    );
    assert!(
        problems
            .lines()
            .nth(2)
            .unwrap_or_default()
            .contains("run berth as root"),
        "{report}"
    );
    assert!(!problems.contains("fix: mount the host socket"), "{report}");
    let run = docker.output([
        "run",
        "--rm",
        "--label",
        &support::label(),
        "--user",
        "dev",
        "-v",
        &mount,
        &workspace_image(),
        "true",
    ]);
    let said = String::from_utf8_lossy(&run.stderr);
    let warning = said
        .split_once("no way to reach Docker was found here:")
        .map(|(_, w)| w)
        .unwrap_or_else(|| panic!("no warning:\n{said}"));
    assert!(
        warning
            .lines()
            .nth(2)
            .unwrap_or_default()
            .contains("run berth as root"),
        "{said}"
    );
    assert!(!warning.contains("mount the host socket"), "{said}");
    assert!(!warning.contains("rootlesskit"), "{said}");
}

/// A directory holding `name`, a shell `script` standing in for that
/// daemon, and the `docker run` arguments of a privileged container whose
/// PATH finds it first. Keep the directory until the container is gone.
fn fake_daemon(name: &str, script: &str) -> (tempfile::TempDir, Vec<String>) {
    let fake = tempfile::tempdir().unwrap();
    fs::set_permissions(fake.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let program = fake.path().join(name);
    fs::write(&program, script).unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let args = vec![
        "--privileged".to_string(),
        "--no-healthcheck".into(),
        "-v".into(),
        format!("{}:/fake:ro", fake.path().display()),
        "-e".into(),
        "PATH=/fake:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    ];
    (fake, args)
}

/// A containerd that never answers (as one waiting on a data root's locked
/// bolt database does): after the readiness timeout berth stops it before
/// the command runs without Docker. Before, it was left running.
#[test]
fn a_containerd_that_never_gets_ready_is_stopped_after_the_timeout() {
    let test = "a_containerd_that_never_gets_ready_is_stopped_after_the_timeout";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let (_fake, mut args) = fake_daemon(
        "containerd",
        "#!/bin/sh\necho $$ > /tmp/containerd.pid\necho fake containerd never listens >&2\nexec sleep 1000\n",
    );
    args.extend([
        "-e".into(),
        "BERTH_DOCKERD_READY_TIMEOUT=2s".into(),
        workspace_image(),
        "sh".into(),
        "-c".into(),
        // The command runs as dev: kill -0 on root's process would fail anyway.
        "if test -d \"/proc/$(cat /tmp/containerd.pid)\"; then echo containerd-still-runs; else echo containerd-gone; fi".into(),
    ]);
    let c = docker.run_detached(&args);
    assert_eq!(c.wait_exit_code(READY), 0, "{}", c.logs());
    let logs = c.logs();
    assert!(
        logs.contains("containerd did not answer") && logs.contains("containerd-gone"),
        "{logs}"
    );
}

#[test]
fn docker_stop_during_a_slow_dockerd_start_returns_at_once() {
    let test = "docker_stop_during_a_slow_dockerd_start_returns_at_once";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    // A dockerd that never answers: berth waits for its ping (60 s by default).
    let (_fake, mut args) = fake_daemon(
        "dockerd",
        "#!/bin/sh\necho fake dockerd never gets ready >&2\nexec sleep 1000\n",
    );
    args.extend([
        "-e".into(),
        "BERTH_LOG_LEVEL=info".into(),
        workspace_image(),
        "sleep".into(),
        "infinity".into(),
    ]);
    let c = docker.run_detached(&args);
    c.wait_for_log("starting dockerd", READY);
    let took = c.stop(10);
    eprintln!("e2e_docker: docker stop while dockerd was starting took {took:.2?}");
    // 143: berth acted on SIGTERM itself; 137 would be docker's SIGKILL after 10 s.
    assert_eq!(
        c.inspect("{{.State.ExitCode}}"),
        "143",
        "logs:\n{}",
        c.logs()
    );
    assert!(
        c.logs().contains("stopped while starting up"),
        "{}",
        c.logs()
    );
}

// ------------------------------------------ berth started as a user (issue: trial)

/// `docker run --rm` with this run's label: the finished container's output.
fn run_to_end(docker: &Docker, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--label".into(),
        support::label(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    docker.output(&all)
}

/// `docker run --user 1001` (Kubernetes runAsUser, a devcontainer's
/// containerUser) on the workspace image, whose `ENV BERTH_USER=dev` is for a
/// root start: berth cannot switch, so it runs the command as 1001 with one
/// warning (before: exit 77, "--user \"dev\" needs berth to run as root").
/// With the host socket mounted and its group given (`--group-add`), the
/// command reaches the engine; without the group, berth says it can grant
/// nothing and why.
#[test]
fn started_as_a_user_berth_sets_berth_user_aside_and_docker_still_works() {
    let test = "started_as_a_user_berth_sets_berth_user_aside_and_docker_still_works";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let image = workspace_image();
    let out = run_to_end(
        &docker,
        &[
            "--user",
            "1001",
            "-e",
            "BERTH_DOCKER=off",
            &image,
            "id",
            "-u",
        ],
    );
    let said = both(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(stdout(&out), "1001", "{said}");
    assert_eq!(
        said.matches("BERTH_USER=dev was not applied because berth runs as uid 1001, not root")
            .count(),
        1,
        "{said}"
    );
    // The image's own user: silent.
    let out = run_to_end(
        &docker,
        &[
            "--user",
            "1000",
            "-e",
            "BERTH_DOCKER=off",
            &image,
            "id",
            "-u",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(!both(&out).contains("not applied"), "{}", both(&out));
    // An explicit --user berth cannot honour still fails, saying why and the fix.
    let out = run_to_end(
        &docker,
        &[
            "--user",
            "1001",
            "-e",
            "BERTH_DOCKER=off",
            &image,
            "--user",
            "dev",
            "id",
        ],
    );
    let said = both(&out);
    assert_eq!(out.status.code(), Some(77), "{said}");
    assert!(
        said.contains("--user \"dev\" cannot be honoured") && said.contains("drop --user"),
        "{said}"
    );

    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket: no socket to mount");
        return;
    };
    let proxy = SocketProxy::start(engine, 4242);
    let mount = format!("{}:/var/run/docker.sock", proxy.path().display());
    let out = run_to_end(
        &docker,
        &[
            "--user",
            "1001",
            "--group-add",
            "4242",
            "-v",
            &mount,
            &image,
            "docker",
            "version",
            "--format",
            "{{.Server.Version}}",
        ],
    );
    let said = both(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(!stdout(&out).is_empty(), "{said}");
    assert!(!said.contains("which the user lacks"), "{said}");
    let out = run_to_end(
        &docker,
        &["--user", "1001", "-v", &mount, &image, "docker", "version"],
    );
    let said = both(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    // Detection itself cannot use the socket as 1001: it says so, with both
    // fixes, and the command runs without Docker (the warn policy).
    assert!(
        said.contains("gid 4242, mode 0660) refuses berth's user: permission denied")
            && said.contains("run berth as root")
            && said.contains("--group-add 4242 (the socket's group)"),
        "{said}"
    );
}

/// The rootless image started as `dev` (no `--user 0`): berth cannot chown
/// the tun device or add subid ranges, so exit 69 names the fix that applies,
/// a root start, and not a chown dev cannot run.
#[test]
fn rootless_image_started_as_the_user_says_to_start_as_root() {
    let test = "rootless_image_started_as_the_user_says_to_start_as_root";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let out = run_to_end(
        &docker,
        &[
            "--privileged",
            "--no-healthcheck",
            &rootless_image(),
            "docker",
            "info",
        ],
    );
    let said = both(&out);
    assert_eq!(out.status.code(), Some(69), "{said}");
    assert!(
        said.contains("start the container as root (--user 0, or remove USER from the image)"),
        "{said}"
    );
    assert!(!said.contains("berth does it as root"), "{said}");
}

/// An ssh:// engine from an image without an ssh client: the message says
/// to install openssh-client, not Go's "ssh resolves to executable in
/// current directory".
#[test]
fn ssh_engine_without_an_ssh_client_says_what_to_install() {
    let test = "ssh_engine_without_an_ssh_client_says_what_to_install";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let image = workspace_image();
    let out = run_to_end(
        &docker,
        &[
            "-e",
            "DOCKER_HOST=ssh://dev@engine.invalid",
            "-e",
            "BERTH_ON_DOCKER_FAILURE=fail",
            &image,
            "true",
        ],
    );
    let said = both(&out);
    assert_eq!(out.status.code(), Some(69), "{said}");
    assert!(
        said.contains("ssh is not on PATH: install openssh-client in the image"),
        "{said}"
    );
    assert!(!said.contains("current directory"), "{said}");
}
