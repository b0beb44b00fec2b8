//! Every target's properties on a few thousand random inputs and on the
//! repository's fixtures, in the normal test run: a property that no longer
//! holds, or a target that no longer runs, fails here before anyone fuzzes.

use super::*;

/// xorshift64*: deterministic, no crate needed.
pub(super) struct XorShift(pub(super) u64);

impl XorShift {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    /// Bytes drawn mostly from `alphabet`, sometimes any byte.
    pub(super) fn input(&mut self, alphabet: &[u8], max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| {
                if self.below(20) == 0 {
                    self.next().to_le_bytes()[0]
                } else {
                    alphabet[self.below(alphabet.len())]
                }
            })
            .collect()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// `pieces` joined by NUL, as [`input::parts`] splits them.
fn joined(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.join(&0u8)
}

fn random(target: fn(&[u8]), seed: u64, alphabet: &[u8], max_len: usize) {
    let mut rng = XorShift(seed);
    for _ in 0..2000 {
        target(&rng.input(alphabet, max_len));
    }
}

#[test]
fn proc_status_on_fixtures_and_random_inputs() {
    for name in [
        "status-privileged",
        "status-unprivileged",
        "status-privileged-no-sys-resource",
        "uid_map-identity",
        "uid_map-mapped",
        "cap_last_cap",
    ] {
        proc_status(&fixture(name));
    }
    random(
        proc_status,
        1,
        b"CapEffBndSeccomp:NoNewPrivs\t \n0123456789abcdef",
        200,
    );
}

#[test]
fn proc_stat_on_fixtures_and_random_inputs() {
    let stat = fixture("proctree/docker-run/1/stat");
    proc_stat(&joined(&[
        &stat,
        b"\x00\x07\x00\x05sh -c\x00\x09\x00\x04(x) \x01\x00\x01\x03\xff\xfe)",
    ]));
    random(proc_stat, 2, b"\x00\x01\x02\x05() S\n12a\xff", 120);
}

#[test]
fn proc_net_route_on_random_inputs() {
    proc_net_route(
        b"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
          eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\0wlan0",
    );
    random(proc_net_route, 3, b"\t\n0013eth00000000 \0", 200);
}

#[test]
fn docker_host_on_random_inputs() {
    for value in [
        &b"\x00unix:///var/run/docker.sock"[..],
        b"\x01tcp://10.0.0.1:2376",
        b"\x00tcp://[::1]",
        b"\x00ssh://dev@host:22",
        b"\x00npipe:////./pipe/docker_engine",
    ] {
        docker_host(value);
    }
    random(
        docker_host,
        4,
        b"\x00\x01unix://tcp://ssh:[]/@:0123456789ab.",
        60,
    );
}

#[test]
fn docker_context_on_random_inputs() {
    let config = br#"{"currentContext":"remote"}"#;
    let meta = br#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.2:2376","SkipTLSVerify":false}}}"#;
    for flags in [&b"\x00"[..], b"\x01"] {
        docker_context(&joined(&[config, meta, b"", b"abc", flags]));
        docker_context(&joined(&[config, meta, b"default", b"abc", flags]));
    }
    random(
        docker_context,
        5,
        br#"{}[]":,currentContextNameEndpointsdockerHosttcp://a:1 \0"#,
        150,
    );
}

#[test]
fn engine_text_on_random_inputs() {
    engine_text(b"Usage: dockerd [OPTIONS]\n      --default-network-opt mapmap\0");
    engine_text(b"client version 1.45 is too new. Maximum supported API version is 1.41\0");
    engine_text(
        b"\0{\"hosts\":[\"unix:///run/docker.sock\",\"tcp://0.0.0.0:2376\"],\"tlsverify\":true}",
    );
    engine_text(b"\0{\"hosts\":null,\"tls\":null,\"log-level\":\"warn\"}");
    random(
        engine_text,
        6,
        b"supported API version is 0123456789.--default-network-opt\0",
        120,
    );
}

#[test]
fn host_path_on_random_inputs() {
    host_path(b"/work/out\nbind\t/srv/data\t/work\nvolume\t/var/lib/docker/volumes/v/_data\t/work/out\ntmpfs\t\t/tmp\0/var/lib/docker/containers/76fdc7e202e4b9f358c3533b8359b6d878d8063fbb11d3b399847376ef111496/hostname");
    random(host_path, 7, b"/./..ab\n\tbindvolumetmpfs\0", 160);
}

#[test]
fn config_env_on_random_inputs() {
    config_env(b"BERTH_GRACE=500ms\nBERTH_REMAP_EXIT=143, 130\nBERTH_PDEATHSIG=rtmin+2\nBERTH_EXPORT_HOST_PATH=OUT=/out,_X=/y\nBERTH_HEALTH_ADDR=:9385\nBERTH_LOG_LEVEL=warn,dockerd=info");
    config_env(b"BERTH_PDEATHSIG=SIGRTMAX-0\nBERTH_DOCKERD_READY_TIMEOUT=0.0000001");
    let mut rng = XorShift(8);
    for _ in 0..2000 {
        let mut input = Vec::new();
        for _ in 0..rng.below(4) {
            input.extend_from_slice(settings_var(&mut rng).as_bytes());
            input.push(b'=');
            input.extend(rng.input(b"0123456789.,=:/msSIGRTMINAX+-_ABZtermwarn", 16));
            input.push(b'\n');
        }
        config_env(&input);
    }
}

fn settings_var(rng: &mut XorShift) -> &'static str {
    const SOME: [&str; 8] = [
        "BERTH_GRACE",
        "BERTH_REMAP_EXIT",
        "BERTH_PDEATHSIG",
        "BERTH_EXPORT_HOST_PATH",
        "BERTH_HEALTH_ADDR",
        "BERTH_LOG_LEVEL",
        "BERTH_DOCKERD_READY_TIMEOUT",
        "BERTH_DOCKER",
    ];
    SOME[rng.below(SOME.len())]
}

#[test]
fn user_spec_on_fixtures_and_random_inputs() {
    let (passwd, group) = (fixture("passwd"), fixture("group"));
    for spec in [
        &b"root"[..],
        b"0",
        b"1000:docker",
        b"nobody:0",
        b"4242",
        b"dev:nogroup",
    ] {
        user_spec(&joined(&[&passwd, &group, spec]));
    }
    random(user_spec, 9, b"abc:x:0123\n,\0", 160);
}

#[test]
fn subid_on_random_inputs() {
    subid(b"dev:100000:65536\n1000:165536:65536\n# comment\n\0\x00\x00\x01\x00\x00\x00\x00\x00\x02\x01\xc0\x00\x00\x00\x00\x00\x00\x00");
    random(subid, 10, b"dev:0123456789\n#\0\xff", 120);
}

#[test]
fn cgroup_on_fixtures_and_random_inputs() {
    let docker_run = fixture("proctree/docker-run/self-cgroup");
    for own in [&b"0::/\n"[..], b"0::/init\n", &docker_run, b""] {
        cgroup(&joined(&[
            own,
            b"cpu io memory pids\n",
            b"1\n7\n12\n",
            b"",
            b"\x03\x03\x03\x00\x03\x02",
        ]));
        cgroup(&joined(&[own, b"", b"1\n", b"", b""]));
    }
    random(cgroup, 11, b"0::/init\ncpu memory 17\0\x00\x01\x02\x03", 80);
}

/// Every input a fuzz target once failed on (`fuzz/regressions/<target>/`),
/// through that target's properties: the findings stay fixed in the normal
/// test run, and `tests/run.sh` replays the same files through the libFuzzer
/// builds.
#[test]
fn regression_inputs_pass_their_targets() {
    type Target = (&'static str, fn(&[u8]));
    let targets: [Target; 14] = [
        ("cgroup", cgroup),
        ("config_env", config_env),
        ("docker_context", docker_context),
        ("docker_host", docker_host),
        ("engine_text", engine_text),
        ("group_file", group_file),
        ("health_request", health_request),
        ("host_path", host_path),
        ("mountinfo", mountinfo),
        ("proc_net_route", proc_net_route),
        ("proc_stat", proc_stat),
        ("proc_status", proc_status),
        ("subid", subid),
        ("user_spec", user_spec),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut ran = 0;
    for dir in std::fs::read_dir(&root).expect("fuzz/regressions") {
        let dir = dir.expect("entry").path();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let target = targets
            .iter()
            .find(|(t, _)| *t == name)
            .unwrap_or_else(|| panic!("fuzz/regressions/{name}: no such target"))
            .1;
        for input in std::fs::read_dir(&dir).expect("target dir") {
            let input = input.expect("entry").path();
            target(&std::fs::read(&input).expect("input"));
            ran += 1;
        }
    }
    assert!(ran >= 5, "only {ran} regression inputs found");
}
