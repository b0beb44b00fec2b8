//! `BERTH_*` (and the other variables berth reads) with free text in them.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;

use crate::config::{Config, InitArgs};
use crate::init::signals;

/// Every variable [`Config::resolve`] reads.
const VARS: [&str; 25] = [
    "BERTH_SUBREAPER",
    "BERTH_PGROUP",
    "BERTH_REMAP_EXIT",
    "BERTH_PDEATHSIG",
    "BERTH_GRACE",
    "BERTH_USER",
    "BERTH_DOCKER",
    "BERTH_DOCKER_OPT_IN",
    "WS_DOCKER_ENABLE_CLIENT",
    "BERTH_ON_DOCKER_FAILURE",
    "BERTH_LOG_LEVEL",
    "BERTH_LOG_FORMAT",
    "BERTH_LOG_TARGET",
    "DOCKER_TLS_CERTDIR",
    "DOCKER_TLS_SAN",
    "BERTH_DOCKERD_INSECURE_TCP",
    "BERTH_DOCKERD_DATA_ROOT",
    "BERTH_IPTABLES",
    "BERTH_STORAGE_DRIVER",
    "BERTH_DOCKERD_ARGS",
    "BERTH_DOCKERD_LOG",
    "BERTH_DOCKERD_READY_TIMEOUT",
    "BERTH_REMOTE_TIMEOUT",
    "BERTH_EXPORT_HOST_PATH",
    "BERTH_HEALTH_ADDR",
];

fn resolve(env: &BTreeMap<String, String>) -> Result<Config, crate::config::ConfigError> {
    let args = InitArgs::try_parse_from(["berth"]).expect("no flags parse");
    Config::resolve(args, &|key| env.get(key).cloned())
}

/// The environment, one `NAME=value` a line. Whatever is set: either a
/// configuration, or one error that names a variable that was set and its
/// value. A configuration's values written back the way a user would write
/// them resolve to the same values: exit codes as a comma list, the death
/// signal by name, durations in seconds (to the microsecond), the host-path
/// exports as `VAR=DIR,...`, the health address as printed; the grace is
/// within 24 h. A signal name always parses to the signal it names.
pub fn config_env(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let env: BTreeMap<String, String> = text
        .split('\n')
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for value in env.values() {
        if let Ok(sig) = signals::parse(value) {
            assert!((1..=signals::SIGRTMAX).contains(&sig), "{value:?} -> {sig}");
            let name = signals::name(sig);
            if !name.starts_with("signal ") {
                assert_eq!(signals::parse(&name), Ok(sig), "{value:?} -> {name}");
                assert_eq!(signals::parse(&name.to_ascii_lowercase()), Ok(sig));
            }
        }
    }
    realtime_offsets(data);
    let config = match resolve(&env) {
        Ok(config) => config,
        Err(err) => {
            let (origin, value) = (err.origin.clone(), err.value.clone());
            assert!(
                VARS.contains(&origin.as_str()) && env.get(&origin) == Some(&value),
                "{err} names something that was not set"
            );
            return;
        }
    };
    assert!(config.grace <= Duration::from_secs(86_400));

    let mut again = env.clone();
    let codes: Vec<String> = config.remap_exit.iter().map(u8::to_string).collect();
    again.insert("BERTH_REMAP_EXIT".into(), codes.join(","));
    if let Some(sig) = config.pdeathsig {
        again.insert("BERTH_PDEATHSIG".into(), signals::name(sig));
    }
    again.insert("BERTH_GRACE".into(), seconds(config.grace));
    again.insert(
        "BERTH_REMOTE_TIMEOUT".into(),
        seconds(config.remote_timeout),
    );
    if let Some(ready) = config.dind.ready_timeout {
        again.insert("BERTH_DOCKERD_READY_TIMEOUT".into(), seconds(ready));
    }
    let exports: Vec<String> = config
        .export_host_paths
        .iter()
        .map(|e| format!("{}={}", e.var, e.dir.display()))
        .collect();
    again.insert("BERTH_EXPORT_HOST_PATH".into(), exports.join(","));
    if let Some(addr) = config.health_addr {
        again.insert("BERTH_HEALTH_ADDR".into(), addr.to_string());
    }
    let pdeathsig_named = config
        .pdeathsig
        .is_none_or(|sig| !signals::name(sig).starts_with("signal "));
    if !pdeathsig_named {
        again.remove("BERTH_PDEATHSIG");
    }
    let second =
        resolve(&again).unwrap_or_else(|e| panic!("written back as {again:?}, refused: {e}"));
    assert_eq!(second.remap_exit, config.remap_exit);
    if pdeathsig_named {
        assert_eq!(second.pdeathsig, config.pdeathsig);
    }
    assert!(
        close(second.grace, config.grace),
        "{:?} vs {:?}",
        second.grace,
        config.grace
    );
    assert!(
        close(second.remote_timeout, config.remote_timeout),
        "{:?} vs {:?}",
        second.remote_timeout,
        config.remote_timeout
    );
    match (second.dind.ready_timeout, config.dind.ready_timeout) {
        (Some(a), Some(b)) => assert!(close(a, b), "{a:?} vs {b:?}"),
        (a, b) => assert_eq!(a, b),
    }
    assert_eq!(second.export_host_paths, config.export_host_paths);
    assert_eq!(second.health_addr, config.health_addr);
    assert_eq!(second.docker, config.docker);
}

/// A duration as a user writes it: seconds, as many digits as it takes.
fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

fn close(a: Duration, b: Duration) -> bool {
    a.abs_diff(b) <= Duration::from_micros(1)
}

/// `RTMIN+N` and `RTMAX-N` with N anywhere in i32 (from the input's first
/// bytes: a text mutator seldom writes a number near the bounds). A signal
/// comes back exactly when RTMIN+N (RTMAX-N) is a real-time signal.
fn realtime_offsets(data: &[u8]) {
    let n = i32::from_le_bytes(std::array::from_fn(|i| data.get(i).copied().unwrap_or(0)));
    let (rtmin, rtmax) = (i64::from(libc::SIGRTMIN()), i64::from(signals::SIGRTMAX));
    for (text, sig) in [
        (format!("RTMIN+{n}"), rtmin + i64::from(n)),
        (format!("SIGRTMAX-{n}"), rtmax - i64::from(n)),
    ] {
        let want = (rtmin..=rtmax)
            .contains(&sig)
            .then(|| i32::try_from(sig).expect("a signal number"));
        assert_eq!(signals::parse(&text).ok(), want, "{text}");
    }
}
