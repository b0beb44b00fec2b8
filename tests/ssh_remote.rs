//! A remote engine over ssh:// as berth's PID 1 sees it: the ping runs the
//! docker CLI as a helper process while berth's reaper is already running
//! (it was "No child processes (os error 10)": the reaper took the helper's
//! exit). A stand-in `docker` on PATH answers `docker -H ssh://... version`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn an_ssh_engine_answers_through_the_docker_cli_under_the_reaper() {
    if Command::new("unshare").arg("--version").output().is_err() {
        eprintln!("SKIPPED: unshare(1) is not installed");
        return;
    }
    let bin = tempfile::tempdir().expect("tempdir");
    let docker = bin.path().join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\n\
         # `docker -H ssh://... version --format '{{json .Server}}'`\n\
         [ \"$1\" = -H ] && [ \"$3\" = version ] || exit 2\n\
         # ssh takes a moment; the reaper gets its turn meanwhile.\n\
         sleep 0.2\n\
         echo '{\"Version\":\"99.1.0\",\"ApiVersion\":\"1.99\",\"Os\":\"linux\"}'\n",
    )
    .expect("write");
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let out = Command::new("unshare")
        .args(["-Upf", "--mount-proc", "--map-root-user", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(["--", "true"])
        .env_clear()
        .env("PATH", &path)
        .env("DOCKER_HOST", "ssh://me@engine.invalid:2222")
        .env("BERTH_DOCKER", "remote")
        .env("BERTH_LOG_LEVEL", "info")
        .output()
        .expect("run berth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "berth's log:\n{stderr}");
    assert!(
        stderr.contains("docker mode remote via ssh://me@engine.invalid:2222"),
        "{stderr}"
    );
}
