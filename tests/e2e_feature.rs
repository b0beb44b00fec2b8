//! The devcontainer feature (devcontainer-feature/berth) against a real engine.
//!
//! Images are built FROM debian:bookworm the way the devcontainer CLI builds a
//! feature layer: the feature folder (devcontainer-feature.json, install.sh,
//! the static berth binary, as devcontainer-feature/package.sh lays it out)
//! is copied in and install.sh runs as root with the options as upper-case
//! variables (MODE, USER, INSTALLDOCKERIO) and _REMOTE_USER set. Then:
//!
//! - as the image's ENTRYPOINT, berth is PID 1 and `docker exec -u vscode C
//!   docker ps` works through a host socket whose gid the image lacks;
//! - started the way the devcontainer CLI starts it (/bin/sh as PID 1 running
//!   each feature's entrypoint without arguments), the same holds with berth
//!   in the background as a subreaper;
//! - bad option values fail with the fix named and leave the filesystem as it
//!   was (`docker diff` is empty).
//!
//! Only the first test runs apt-get (installDockerIo=true, for the docker CLI):
//! it reaches Debian's mirror and takes a minute or two.
//!
//! The binary is $BERTH_BIN, else this checkout's release build. Needs the
//! engine and debian:bookworm (`bash tests/run.sh`; see tests/support/mod.rs).

mod support;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use support::{engine_socket, require_e2e, wait_until, Container, Docker, Image, SocketProxy};

/// How long berth may take to fix the group once the container runs.
const READY: Duration = Duration::from_secs(60);
/// install.sh without apt-get is a few file copies.
const INSTALL: Duration = Duration::from_secs(60);
/// A gid no group of debian:bookworm has: berth must create a group for it.
const SOCKET_GID: u32 = 4242;
/// The container script of the devcontainer CLI (devcontainers/cli,
/// singleContainer.ts), with this feature's entrypoint as the only one.
const DEVCONTAINER_CLI_SCRIPT: &str = "echo Container started
trap \"exit 0\" 15
/usr/local/share/berth-init.sh
exec \"$@\"
while sleep 1 & wait $!; do :; done";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn berth_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(bin);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("x86_64-unknown-linux-gnu/release/berth")
}

/// The start of every test image: a non-root `vscode` (uid 1000) made before
/// the feature runs, as common-utils would, and the feature folder.
const BASE: &str = "FROM debian:bookworm
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash vscode
COPY feature /tmp/berth-feature
";

/// Builds `BASE + rest` from a context holding the feature folder as
/// package.sh makes it (the repository's files plus the binary).
fn build_feature_image(docker: &Docker, rest: &str) -> Image {
    let bin = berth_bin();
    assert!(
        bin.is_file(),
        "no berth binary at {} (cargo build --release, or set BERTH_BIN)",
        bin.display()
    );
    let ctx = tempfile::tempdir().expect("temp dir");
    let feature = ctx.path().join("feature");
    fs::create_dir(&feature).expect("mkdir feature");
    for file in ["devcontainer-feature.json", "install.sh"] {
        fs::copy(
            repo().join("devcontainer-feature/berth").join(file),
            feature.join(file),
        )
        .unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    fs::copy(&bin, feature.join("berth")).expect("copy berth");
    fs::write(ctx.path().join("Dockerfile"), format!("{BASE}{rest}")).expect("Dockerfile");
    docker
        .build(ctx.path(), "feature")
        .unwrap_or_else(|log| panic!("building the feature image failed:\n{log}"))
}

/// Waits until a later `docker exec -u vscode` session (nothing exported, no
/// sudo) can list containers through the mounted socket.
fn wait_for_docker_ps(c: &Container) {
    let mut last = None;
    let ok = wait_until(READY, || {
        let out = c.exec_as("vscode", &["docker", "ps", "--format", "{{.ID}}"]);
        let ok = out.status.success();
        last = Some(out);
        ok
    });
    let stderr = last
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    assert!(
        ok,
        "docker exec -u vscode docker ps failed for {READY:?}: {stderr}\nlogs:\n{}",
        c.logs()
    );
}

/// The group line for the socket's gid names vscode as a member.
fn assert_group_has_vscode(c: &Container) {
    let line = c.exec_ok(&["getent", "group", &SOCKET_GID.to_string()]);
    assert!(line.ends_with(&format!(":{SOCKET_GID}:vscode")), "{line}");
}

#[test]
fn feature_image_runs_berth_as_pid1_and_gives_vscode_the_host_socket() {
    let test = "feature_image_runs_berth_as_pid1_and_gives_vscode_the_host_socket";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket to mount");
        return;
    };
    let image = build_feature_image(
        &docker,
        "RUN cd /tmp/berth-feature && chmod +x install.sh \\
 && MODE=socket USER=automatic INSTALLDOCKERIO=true _REMOTE_USER=vscode _CONTAINER_USER=root ./install.sh \\
 && rm -rf /tmp/berth-feature
ENTRYPOINT [\"/usr/local/share/berth-init.sh\"]
CMD [\"sleep\", \"infinity\"]
",
    );
    let proxy = SocketProxy::start(engine, SOCKET_GID);
    let mount = format!("{}:/var/run/docker.sock", proxy.path().display());

    // 1. The feature's script as the image's ENTRYPOINT: berth is PID 1.
    let c = docker.run_detached(&["-v", &mount, "-e", "BERTH_LOG_LEVEL=info", &image.tag]);
    wait_for_docker_ps(&c);
    assert_eq!(c.exec_ok(&["cat", "/proc/1/comm"]), "berth", "PID 1");
    assert_group_has_vscode(&c);
    // The command (sleep, as vscode) gets docker stop's SIGTERM through berth.
    let command_owner = c.exec_ok(&[
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm)\" = sleep ] && awk '/^PPid:/ { print $2 }' $p/status | grep -qx 1 && stat -c %U $p; done; true",
    ]);
    assert_eq!(command_owner, "vscode", "berth's child runs as vscode");
    let took = c.stop(10);
    assert!(took < Duration::from_secs(8), "docker stop took {took:?}");
    assert_eq!(c.wait_exit_code(READY), 143, "sleep killed by SIGTERM");
    drop(c);

    // 2. Started as the devcontainer CLI starts it: /bin/sh is PID 1 and runs
    // the feature's entrypoint without arguments; berth stays in the
    // background, and the script returns only once the group is fixed.
    let c = docker.run_detached(&[
        "-v",
        &mount,
        "--entrypoint",
        "/bin/sh",
        &image.tag,
        "-c",
        DEVCONTAINER_CLI_SCRIPT,
        "-",
    ]);
    wait_for_docker_ps(&c);
    assert_eq!(c.exec_ok(&["cat", "/proc/1/comm"]), "sh", "PID 1");
    let berth_parent = c.exec_ok(&[
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm)\" = berth ] && awk '/^PPid:/ { print $2 }' $p/status; done; true",
    ]);
    assert_eq!(berth_parent, "1", "one berth, a child of the CLI's sh");
    // The entrypoint returned, so the CLI's script went on to its idle loop
    // (an entrypoint that blocked would hold back everything after it).
    // PID 1's own script names it too: look for the script's process only.
    let returned = wait_until(READY, || {
        let out = c.exec(&[
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline | grep -q '^/bin/sh /usr/local/share/berth-init[.]sh' && echo $p; done; true",
        ]);
        out.status.success() && out.stdout.is_empty()
    });
    assert!(returned, "berth-init.sh is still running:\n{}", c.logs());
    assert_group_has_vscode(&c);
    let logs = c.logs();
    assert!(
        !logs.contains("berth-init:"),
        "no init-script warning:\n{logs}"
    );
}

#[test]
fn install_without_apt_picks_the_uid_1000_user_and_berth_is_pid1() {
    let test = "install_without_apt_picks_the_uid_1000_user_and_berth_is_pid1";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let image = build_feature_image(&docker, "");
    // No _REMOTE_USER: `automatic` falls back to the first uid-1000 user.
    // The init script then runs `id -un` as that user, with berth PID 1.
    let c = docker.run_detached(&[
        "-e",
        "MODE=off",
        "-e",
        "USER=automatic",
        "-e",
        "INSTALLDOCKERIO=false",
        &image.tag,
        "sh",
        "-c",
        "cd /tmp/berth-feature && ./install.sh && exec /usr/local/share/berth-init.sh sh -c 'id -un; cat /proc/1/comm'",
    ]);
    let code = c.wait_exit_code(INSTALL);
    let logs = c.logs();
    assert_eq!(code, 0, "{logs}");
    assert!(
        logs.lines().any(|l| l == "vscode"),
        "runs as vscode:\n{logs}"
    );
    assert!(
        logs.lines().any(|l| l == "berth"),
        "berth is PID 1:\n{logs}"
    );
    let diff = docker.ok(["diff", &c.name]);
    for added in ["A /usr/local/bin/berth", "A /usr/local/share/berth-init.sh"] {
        assert!(diff.lines().any(|l| l == added), "{added} missing:\n{diff}");
    }
    assert!(
        !diff.contains("profile.d"),
        "profile.d is only for rootless:\n{diff}"
    );
}

#[test]
fn bad_option_values_fail_with_the_fix_and_change_nothing() {
    let test = "bad_option_values_fail_with_the_fix_and_change_nothing";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let image = build_feature_image(&docker, "");
    let cases: &[(&[&str], &str)] = &[
        (
            &["MODE=bogus"],
            "mode \"bogus\" is not one of auto, off, socket, dind, rootless, sysbox, remote",
        ),
        (
            &["INSTALLDOCKERIO=maybe"],
            "installDockerIo \"maybe\" is not a boolean: set it to true or false",
        ),
        (
            &["USER=nosuchuser"],
            "user \"nosuchuser\" does not exist in the image",
        ),
        (&["USER=bad name"], "\"bad name\" is not a user name"),
        (
            &["MODE=dind", "INSTALLDOCKERIO=false"],
            "mode dind starts dockerd, which is not installed: set installDockerIo to true",
        ),
        (
            &["MODE=rootless", "USER=none", "INSTALLDOCKERIO=true"],
            "mode rootless runs dockerd as a non-root user",
        ),
    ];
    for (env, expected) in cases {
        let mut args: Vec<&str> = Vec::new();
        for var in *env {
            args.extend(["-e", var]);
        }
        args.extend([
            image.tag.as_str(),
            "sh",
            "-c",
            "cd /tmp/berth-feature && ./install.sh",
        ]);
        let c = docker.run_detached(&args);
        let code = c.wait_exit_code(INSTALL);
        let logs = c.logs();
        assert_eq!(code, 1, "{env:?}: install.sh must fail:\n{logs}");
        assert!(
            logs.contains("berth feature: error: ") && logs.contains(expected),
            "{env:?}: expected {expected:?} in:\n{logs}"
        );
        let diff = docker.ok(["diff", &c.name]);
        assert!(diff.is_empty(), "{env:?}: the filesystem changed:\n{diff}");
    }
}

#[test]
fn options_the_distribution_cannot_meet_fail_before_anything_is_installed() {
    let test = "options_the_distribution_cannot_meet_fail_before_anything_is_installed";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    let image = build_feature_image(&docker, "");
    // (variables, expected message). The first two read the package lists
    // (Debian's mirror) to find out: bookworm has neither package.
    let cases: &[(&[&str], &str)] = &[
        (
            &["DOCKERDASHCOMPOSEVERSION=v2"],
            "dockerDashComposeVersion v2: Debian GNU/Linux 12 (bookworm) has no Compose v2 package (its docker-compose is 1.",
        ),
        (
            &["INSTALLDOCKERBUILDX=true"],
            "installDockerBuildx: Debian GNU/Linux 12 (bookworm) has no docker-buildx package",
        ),
        (
            &["DOCKERDASHCOMPOSEVERSION=v1"],
            "dockerDashComposeVersion \"v1\" is not offered",
        ),
        (
            &["INSTALLDOCKERBUILDX=yes"],
            "installDockerBuildx \"yes\" is not a boolean: set it to true or false",
        ),
    ];
    for (env, expected) in cases {
        let mut args: Vec<&str> = Vec::new();
        for var in *env {
            args.extend(["-e", var]);
        }
        args.extend([
            image.tag.as_str(),
            "sh",
            "-c",
            "cd /tmp/berth-feature && ./install.sh",
        ]);
        let c = docker.run_detached(&args);
        let code = c.wait_exit_code(Duration::from_secs(180));
        let logs = c.logs();
        assert_eq!(code, 1, "{env:?}: install.sh must fail:\n{logs}");
        assert!(
            logs.contains("berth feature: error: ") && logs.contains(expected),
            "{env:?}: expected {expected:?} in:\n{logs}"
        );
        // No package, no berth: at most apt's package lists came and went
        // (their directories show as changed), nothing else.
        let diff = docker.ok(["diff", &c.name]);
        for line in diff.lines() {
            let path = line.get(2..).unwrap_or_default();
            assert!(
                path.starts_with("/var/lib/apt")
                    || path.starts_with("/var/cache/apt")
                    || path == "/var/lib"
                    || path == "/var/cache"
                    || path == "/var"
                    || path == "/tmp"
                    || path.starts_with("/tmp/berth-feature"),
                "{env:?}: install.sh changed {line}:\n{diff}"
            );
            assert!(
                !path.starts_with("/var/lib/apt/lists/")
                    || path == "/var/lib/apt/lists/lock"
                    || path.ends_with("/partial"),
                "{env:?}: package lists left behind: {line}"
            );
        }
    }
}

#[test]
fn an_option_the_feature_does_not_have_fails_the_install() {
    let test = "an_option_the_feature_does_not_have_fails_the_install";
    let Some(docker) = require_e2e(test) else {
        return;
    };
    // The devcontainer CLI writes every option of the feature's entry in
    // devcontainer.json, upper-cased, to devcontainer-features.env next to
    // install.sh (and sources it before running install.sh).
    let image = build_feature_image(
        &docker,
        "RUN printf 'MODE=\"auto\"\\nMOBY=\"true\"\\n' > /tmp/berth-feature/devcontainer-features.env\n",
    );
    let c = docker.run_detached(&[
        "-e",
        "MODE=auto",
        "-e",
        "MOBY=true",
        image.tag.as_str(),
        "sh",
        "-c",
        "cd /tmp/berth-feature && ./install.sh",
    ]);
    let code = c.wait_exit_code(INSTALL);
    let logs = c.logs();
    assert_eq!(code, 1, "{logs}");
    assert!(
        logs.contains("berth feature: error: option MOBY (as the devcontainer CLI passes it, upper-cased) is not an option of the berth feature: remove it"),
        "{logs}"
    );
    let diff = docker.ok(["diff", &c.name]);
    assert!(diff.is_empty(), "the filesystem changed:\n{diff}");
}
