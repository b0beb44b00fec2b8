#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (each [[bin]] in fuzz/Cargo.toml, found
# there, so a new target is included without touching this script) for a
# bounded time, one after the other, and writes bench/fuzz-results.md:
# target, seconds, executions, execs/s, corpus size, coverage as libFuzzer
# reports it (cov: edges, ft: features) and crashes.
#
#   bash bench/fuzz.sh                 # every target, 60 s each
#   BERTH_FUZZ_SECONDS=300 bash bench/fuzz.sh config_env cgroup
#   bash bench/fuzz.sh --smoke         # tests/run.sh: every target over its
#                                      # seeds and regressions, then 3 s
#
# The engine is libFuzzer (libfuzzer-sys builds it from source) on the
# machine's stable Rust, instrumented with the same flags cargo-fuzz passes
# (fuzz/README.md says why no nightly or cargo-fuzz is needed). The build
# has debug assertions and overflow checks on, so an arithmetic overflow in
# a parser is a crash, not a silent wrap.
#
# Each target starts from a fresh corpus made from the repository's fixtures
# (tests/fixtures/..., combined where a target reads several files; see
# seed() below), plus fuzz/regressions/<target>/ (inputs a target once
# failed on), so every run replays those first. fuzz/dicts/<target>.dict is passed as a
# libFuzzer dictionary when it exists. A run stops at its first crash; the
# crashing input is kept in fuzz/artifacts/<target>/ (libFuzzer prints how
# to reproduce it) and the table says so.
#
# --smoke (tests/run.sh) writes no results file: each target replays its
# seeds and regressions and fuzzes BERTH_FUZZ_SMOKE_SECONDS (3), and the
# script fails on any crash.
# Knobs: BERTH_FUZZ_SECONDS (60) per target; BERTH_FUZZ_RESULTS (the
# markdown file, bench/fuzz-results.md); BERTH_FUZZ_KEEP=1 keeps the
# corpora in fuzz/corpus/<target>/ (default: a temporary directory).
# Exit status: 0 when every target ran without a crash, 1 otherwise, 2 when
# the build failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
SMOKE=0
if [[ ${1:-} == --smoke ]]; then
	SMOKE=1
	shift
fi
if ((SMOKE)); then SECONDS_EACH=${BERTH_FUZZ_SMOKE_SECONDS:-3}; else SECONDS_EACH=${BERTH_FUZZ_SECONDS:-60}; fi
RESULTS=${BERTH_FUZZ_RESULTS:-$REPO/bench/fuzz-results.md}
TRIPLE=x86_64-unknown-linux-gnu
TARGET_DIR=$REPO/fuzz/target/libfuzzer
BIN_DIR=$TARGET_DIR/$TRIPLE/release

log() { printf 'fuzz: %s\n' "$*" >&2; }

# The [[bin]] names of fuzz/Cargo.toml, in file order.
targets() {
	awk '/^\[\[bin\]\]/ { inbin = 1; next }
	     /^\[/ { inbin = 0 }
	     inbin && /^name *=/ { gsub(/.*= *"|".*/, ""); print; inbin = 0 }' fuzz/Cargo.toml
}

# cargo-fuzz's instrumentation (sancov with inline 8-bit counters, the PC
# table and comparison tracing), on stable: these are -C flags, not -Z.
build() {
	RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cdebug-assertions -Coverflow-checks" \
		CARGO_TARGET_DIR=$TARGET_DIR \
		cargo build --release --locked --manifest-path fuzz/Cargo.toml --target "$TRIPLE" --bins
}

F=tests/fixtures

# put DIR NAME: one seed file from stdin.
put() { cat >"$1/$2"; }

# NUL-joined pieces: one input standing for several files (see
# src/fuzzing/input.rs, `parts`).
nul() {
	local first=1 piece
	for piece in "$@"; do
		((first)) || printf '\0'
		first=0
		if [[ -f $piece ]]; then cat "$piece"; else printf '%b' "$piece"; fi
	done
}

ROUTE_TABLE='Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n'

# seed TARGET DIR: the target's seeds from the repository's fixtures.
seed() {
	local target=$1 dir=$2 f i=0
	case $target in
	group_file)
		for f in "$F"/group "$F"/gshadow "$F"/passwd; do cp "$f" "$dir/"; done
		;;
	mountinfo)
		for f in "$F"/mountinfo-* "$F"/proctree/*/self-mountinfo; do
			cp "$f" "$dir/$((++i))"
		done
		;;
	proc_status)
		for f in "$F"/status-* "$F"/uid_map-* "$F"/cap_last_cap "$F"/proctree/*/1/status; do
			cp "$f" "$dir/$((++i))"
		done
		;;
	proc_stat)
		for f in "$F"/proctree/*/*/stat; do
			i=$((i + 1))
			nul "$f" '\x00\x07\x00\x05sh -c\x00\x09\x00\x04(x) ' >"$dir/$i"
		done
		;;
	proc_net_route)
		nul "$ROUTE_TABLE" eth0 | put "$dir" route
		;;
	docker_host)
		for h in 'unix:///var/run/docker.sock' 'tcp://10.0.0.1:2376' 'tcp://[::1]' \
			'ssh://dev@host:22' 'tcp://dind:2375/path' 'npipe:////./pipe/docker_engine'; do
			i=$((i + 1))
			printf '\x01%s' "$h" >"$dir/$i"
		done
		;;
	docker_context)
		nul '{"currentContext":"remote","auths":{}}' \
			'{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.2:2376","SkipTLSVerify":false}}}' \
			'' 'abc' '\x01' | put "$dir" tls
		nul '{}' '{"Name":"ssh","Endpoints":{"docker":{"Host":"ssh://dev@remote"}}}' 'ssh' 'x' '' |
			put "$dir" ssh
		;;
	engine_text)
		printf 'Usage:\tdockerd [OPTIONS]\n      --default-network-opt mapmap   Default network options\n' |
			put "$dir" help
		printf 'client version 1.45 is too new. Maximum supported API version is 1.41' | put "$dir" api
		nul '' '{"hosts":["unix:///run/docker.sock","tcp://0.0.0.0:2376"],"tlsverify":true}' |
			put "$dir" daemon-json
		;;
	host_path)
		{
			printf '/work/out\nbind\t/srv/data\t/work\nvolume\t/var/lib/docker/volumes/v/_data\t/work/out\ntmpfs\t\t/tmp\n\0'
			awk '{ print $4 }' $F/mountinfo-socket
		} | put "$dir" mounts
		;;
	health_request)
		printf 'GET /healthz HTTP/1.1\r\nHost: localhost:9385\r\nConnection: keep-alive\r\n\r\n' | put "$dir" get
		printf 'GET /readyz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' | put "$dir" pipelined
		;;
	config_env)
		printf '%s\n' BERTH_GRACE=8s BERTH_REMAP_EXIT=143,130 BERTH_PDEATHSIG=SIGRTMIN+2 \
			BERTH_EXPORT_HOST_PATH=OUT=/out,WORK=/work BERTH_HEALTH_ADDR=:9385 \
			BERTH_LOG_LEVEL=warn,dockerd=info BERTH_DOCKERD_READY_TIMEOUT=60s \
			BERTH_USER=dev BERTH_DOCKER=auto BERTH_SUBREAPER=1 | put "$dir" env
		;;
	user_spec)
		for spec in root 0 1000:docker nobody:0 4242 dev:nogroup; do
			i=$((i + 1))
			nul $F/passwd $F/group "$spec" >"$dir/$i"
		done
		;;
	subid)
		nul 'dev:100000:65536\n1000:165536:65536\n# comment\n' \
			'\x00\x00\x01\x00\x00\x00\x00\x00\x02\x01\xc0' | put "$dir" subid
		;;
	cgroup)
		for f in "$F"/proctree/*/self-cgroup; do
			i=$((i + 1))
			nul "$f" 'cpu io memory pids\n' '1\n7\n12\n' $F/mountinfo-dind '\x03\x03\x00\x03' >"$dir/$i"
		done
		nul '0::/\n' 'cpu io memory pids\n' '1\n7\n' '' '\x03\x03\x03' | put "$dir" root
		;;
	esac
	if [[ -d fuzz/regressions/$target ]]; then
		cp fuzz/regressions/"$target"/* "$dir/"
	fi
}

# final_stat NAME LOG: a value of libFuzzer's -print_final_stats output.
final_stat() { awk -v k="stat::$1:" '$1 == k { v = $2 } END { print v }' "$2"; }

# The last status line ("#N ... cov: C ft: F corp: K/S ..."): field after WORD.
status_field() {
	awk -v w="$1:" '/^#[0-9]+/ { for (i = 1; i < NF; i++) if ($i == w) v = $(i + 1) } END { print v }' "$2"
}

mapfile -t ALL < <(targets)
if (($# > 0)); then SELECTED=("$@"); else SELECTED=("${ALL[@]}"); fi
for t in "${SELECTED[@]}"; do
	[[ " ${ALL[*]} " == *" $t "* ]] || {
		log "no target $t in fuzz/Cargo.toml (have: ${ALL[*]})"
		exit 2
	}
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE; building ${#ALL[@]} targets"
build_start=$(date +%s)
if ! build; then
	log "the fuzz build failed (a dependency added to Cargo.toml? refresh fuzz/Cargo.lock:"
	log "  cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 >/dev/null)"
	exit 2
fi
BUILD_SECONDS=$(($(date +%s) - build_start))

# Corpora and the scratch files of the targets that read files: on tmpfs
# when there is one (a disk-backed /tmp costs the file-reading targets half
# their speed).
if [[ -d /dev/shm && -w /dev/shm ]]; then scratch_root=/dev/shm; else scratch_root=${TMPDIR:-/tmp}; fi
WORK=$(mktemp -d "$scratch_root/berth-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROWS=()
CRASHED=()
for t in "${SELECTED[@]}"; do
	if [[ ${BERTH_FUZZ_KEEP:-0} == 1 ]]; then
		corpus=$REPO/fuzz/corpus/$t
		rm -rf "$corpus"
	else
		corpus=$WORK/corpus/$t
	fi
	seeds=$WORK/seeds/$t artifacts=$REPO/fuzz/artifacts/$t
	mkdir -p "$corpus" "$seeds" "$artifacts" "$WORK/tmp"
	seed "$t" "$seeds"
	nseeds=$(find "$seeds" -type f | wc -l)
	dict=()
	[[ -f fuzz/dicts/$t.dict ]] && dict=(-dict="fuzz/dicts/$t.dict")
	find "$artifacts" -type f | sort >"$WORK/before"
	log "$t: ${SECONDS_EACH}s from $nseeds seeds"
	out=$WORK/$t.log
	start=$(date +%s.%N)
	rc=0
	# -timeout: an input taking 10 s is a hang, reported as one.
	TMPDIR=$WORK/tmp timeout -k 10 $((SECONDS_EACH + 60)) \
		"$BIN_DIR/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
		"$corpus" "$seeds" >"$out" 2>&1 || rc=$?
	elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
	execs=$(final_stat number_of_executed_units "$out")
	rate=$(final_stat average_exec_per_sec "$out")
	cov=$(status_field cov "$out")
	ft=$(status_field ft "$out")
	files=$(find "$corpus" -type f | wc -l)
	bytes=$(du -sb "$corpus" | cut -f1)
	new=$(find "$artifacts" -type f ! -name last-run.log | sort | comm -13 "$WORK/before" - | head -n 1)
	crash="0"
	if ((rc != 0)) || [[ -n $new ]]; then
		why=$(grep -m1 -oE 'panicked at [^ ]+|ERROR: libFuzzer: [a-z-]+' "$out" || echo "exit $rc")
		crash="1: $why, input \`${new#"$REPO"/}\`"
		CRASHED+=("$t")
		cp "$out" "$artifacts/last-run.log"
		log "$t crashed: $crash (log in fuzz/artifacts/$t/last-run.log)"
	fi
	ROWS+=("| \`$t\` | $elapsed | ${execs:-?} | ${rate:-?} | $files ($((bytes / 1024)) KiB) | ${cov:-?} | ${ft:-?} | $crash |")
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

if ((SMOKE)); then
	log "smoke: build ${BUILD_SECONDS}s; ${#SELECTED[@]} targets, ${SECONDS_EACH}s each after their seeds and regressions"
	printf '%s\n' "${ROWS[@]}" >&2
	((${#CRASHED[@]} == 0)) || log "crashed: ${CRASHED[*]}"
	exit $((${#CRASHED[@]} == 0 ? 0 : 1))
fi

{
	printf '# Fuzzing berth'"'"'s parsers\n\n'
	# shellcheck disable=SC2016 # the backquotes are markdown
	printf 'Made by `bash bench/fuzz.sh` (BERTH_FUZZ_SECONDS=%s) on %s, commit %s.\n' \
		"$SECONDS_EACH" "$(date -u +%Y-%m-%d)" "$(git rev-parse --short HEAD)"
	printf 'Machine: %s cores, %s; %s; libFuzzer from libfuzzer-sys %s. One target at a time.\n' \
		"$(nproc)" "$(uname -r)" "$(rustc -V | cut -d' ' -f1-2)" \
		"$(awk '/^name = "libfuzzer-sys"/ { getline; gsub(/[^0-9.]/, ""); print }' fuzz/Cargo.lock)"
	printf 'Load average (1, 5, 15 min) before: %s; after: %s. Build: %s s.\n\n' \
		"$LOAD_BEFORE" "$LOAD_AFTER" "$BUILD_SECONDS"
	printf 'Each run starts from the seed corpus (fixtures) alone. *cov* is the number of\n'
	printf 'instrumented edges reached, *ft* libFuzzer'"'"'s features (edges with hit counts,\n'
	printf 'comparisons), both from its last status line; *corpus* is what the run kept.\n\n'
	printf '| target | seconds | executions | execs/s | corpus | cov | ft | crashes |\n'
	printf '|---|---:|---:|---:|---:|---:|---:|---|\n'
	printf '%s\n' "${ROWS[@]}"
} >"$RESULTS"
log "wrote $RESULTS"
cat "$RESULTS"
((${#CRASHED[@]} == 0))
