#!/usr/bin/env bash
# The health endpoint under load: this branch's berth next to main's, in one run.
#
#   eval "$(bash tests/engine.sh up)"
#   BERTH_IMAGE=berth/workspace:<tag> bash bench/health.sh   # writes bench/health-results.md
#
# For each binary (BERTH_BIN, default this tree's release build; BASELINE_BIN,
# default main's, built once into target/bench-baseline), a workspace
# container (BERTH_IMAGE, the binary bind-mounted over /usr/local/bin/berth)
# runs in socket mode with BERTH_HEALTH_ADDR=0.0.0.0:9385 published on
# 127.0.0.1. Its socket is a counting proxy (bench/engine-counter.py) in front
# of the engine DOCKER_HOST names, so the engine requests the container makes
# are counted without reconfiguring the engine. Then, one at a time:
#   wrk -t2 -c100 -d15s http://127.0.0.1:PORT/healthz   (then /readyz)
# recording requests/s, wrk's socket errors (connect/read/write/timeout) and
# non-2xx answers, the /_ping (and all) requests the engine saw during the
# run, and berth's VmRSS (PID 1 of the container, read from the host) before,
# at its peak during (sampled every 0.2 s), and 3 s after.
# Installs wrk from Debian when missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/health-results.md}
image=${BERTH_IMAGE:-berth/workspace}
duration=${BENCH_DURATION:-15}
connections=${BENCH_CONNECTIONS:-100}
threads=${BENCH_THREADS:-2}
label=berth-test=${BERTH_TEST_RUN_ID:-health-bench}

command -v wrk >/dev/null || {
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
engine=${DOCKER_HOST:-unix:///var/run/docker.sock}
engine=${engine#unix://}
[[ -S $engine ]] || {
	echo "bench/health.sh: DOCKER_HOST must be a unix socket (got ${DOCKER_HOST:-unset}); run: eval \"\$(bash tests/engine.sh up)\"" >&2
	exit 2
}
docker image inspect "$image" >/dev/null || {
	echo "bench/health.sh: no image $image; build it with tests/images.sh (BERTH_IMAGE=...)" >&2
	exit 2
}

new_bin=${BERTH_BIN:-}
if [[ -z $new_bin ]]; then
	cargo build --release --quiet
	new_bin=$PWD/target/x86_64-unknown-linux-gnu/release/berth
fi
base_bin=${BASELINE_BIN:-}
if [[ -z $base_bin ]]; then
	base_rev=$(git rev-parse main)
	base_dir=$PWD/target/bench-baseline
	base_bin=$base_dir/berth-$base_rev
	if [[ ! -x $base_bin ]]; then
		src=$(mktemp -d)
		git worktree add --detach "$src" "$base_rev" >/dev/null
		(cd "$src" && CARGO_TARGET_DIR=$base_dir/target cargo build --release --quiet) ||
			{ git worktree remove --force "$src"; exit 1; }
		cp "$base_dir/target/x86_64-unknown-linux-gnu/release/berth" "$base_bin"
		git worktree remove --force "$src"
	fi
fi

tmp=$(mktemp -d)
chmod 0755 "$tmp"
names=() proxies=()
cleanup() {
	for name in "${names[@]}"; do docker rm -f "$name" >/dev/null 2>&1 || true; done
	for pid in "${proxies[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

declare -A port pid idle
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# start NAME BINARY: the container and its counting proxy; sets port[NAME], pid[NAME]
start() {
	local name=$1 bin=$2 dir=$tmp/$1 container
	mkdir -p "$dir"
	python3 bench/engine-counter.py "$dir/docker.sock" "$engine" "$dir/requests.log" 2>"$dir/counter.err" &
	proxies+=($!)
	for _ in $(seq 50); do [[ -S $dir/docker.sock ]] && break; sleep 0.1; done
	container=berth-health-bench-$name-$$
	names+=("$container")
	docker run -d --name "$container" --label "$label" --no-healthcheck \
		-p 127.0.0.1::9385 -e BERTH_HEALTH_ADDR=0.0.0.0:9385 \
		-v "$dir/docker.sock:/var/run/docker.sock" -v "$bin:/usr/local/bin/berth:ro" \
		"$image" sleep infinity >/dev/null
	local address
	address=$(docker port "$container" 9385/tcp | head -n1)
	for _ in $(seq 300); do
		curl -fs "http://$address/readyz" >/dev/null 2>&1 && break
		sleep 0.2
	done
	curl -fs "http://$address/healthz" >/dev/null || {
		docker logs "$container" >&2
		echo "bench/health.sh: $name does not answer /healthz" >&2
		exit 1
	}
	port[$name]=$address
	pid[$name]=$(docker inspect -f '{{.State.Pid}}' "$container")
}

start main "$base_bin"
start branch "$new_bin"
# Past berth's start-up trim (300 ms after the command starts) and the probes above.
sleep 5
for name in main branch; do
	idle[$name]=$(rss "${pid[$name]}")
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

rows=() verdicts=()
for path in /healthz /readyz; do
	for name in main branch; do
		log=$tmp/$name/requests.log
		before=$(rss "${pid[$name]}")
		lines_before=$(wc -l <"$log")
		wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "http://${port[$name]}$path" >"$tmp/wrk.txt" 2>&1 &
		wrk_pid=$!
		peak=$before
		while kill -0 "$wrk_pid" 2>/dev/null; do
			now=$(rss "${pid[$name]}")
			((now > peak)) && peak=$now
			sleep 0.2
		done
		wait "$wrk_pid"
		requests=$(tail -n +"$((lines_before + 1))" "$log")
		# bollard puts the API version in front: /v1.41/_ping.
		pings=$(grep -cE ' (/v[0-9.]+)?/_ping$' <<<"$requests" || true)
		all=$(grep -c . <<<"$requests" || true)
		sleep 3
		after=$(rss "${pid[$name]}")
		rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$tmp/wrk.txt")
		total=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
		latency=$(awk '$1 == "Latency" {print $2; exit}' "$tmp/wrk.txt")
		connect=0 read=0 write=0 timeout=0
		read -r connect read write timeout < <(sed -n 's/.*connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$tmp/wrk.txt") || true
		non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$tmp/wrk.txt")
		rows+=("| $name | \`$path\` | ${rps:-?} | ${total:-?} | ${latency:-?} | ${connect:-0} / ${read:-0} / ${write:-0} / ${timeout:-0} | ${non2xx:-0} | $pings ($(awk -v p="$pings" -v d="$duration" 'BEGIN {printf "%.2f", p / d}')/s) | $all | $before | $peak | $after |")
		echo "${rows[-1]}" >&2
		if [[ $name == branch ]]; then
			# The issue's targets (issue 14), for this branch's binary.
			errors=$((${connect:-0} + ${read:-0} + ${write:-0} + ${timeout:-0}))
			verdicts+=("- \`$path\`: $(awk -v r="${rps:-0}" -v e="$errors" -v p="$pings" -v d="$duration" -v a="$after" -v i="${idle[$name]}" 'BEGIN {
				printf "requests/s %d %s 1000; socket errors %d %s 0; engine pings %.2f/s %s 2/s; VmRSS after %+d kB from idle %s 1024 kB",
					r, (r >= 1000 ? ">=" : "BELOW"), e, (e == 0 ? "=" : "ABOVE"), p / d, (p / d <= 2 ? "<=" : "ABOVE"), a - i, (a - i <= 1024 ? "<=" : "ABOVE")
			}')")
		fi
		cp "$tmp/wrk.txt" "$tmp/wrk-$name-${path#/}.txt"
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "# Health endpoint under load"
	echo
	echo "Produced by \`bash bench/health.sh\` on $(date -u +%Y-%m-%d), one run, both binaries side by side."
	echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r); load average $load_before (1/5/15 min) before, $load_after after."
	echo "Engine: $(docker version -f '{{.Server.Version}}') at $engine, through a counting proxy per container (bench/engine-counter.py)."
	echo "Image: \`$image\` in socket mode, the binary bind-mounted over /usr/local/bin/berth; BERTH_HEALTH_ADDR=0.0.0.0:9385 published on 127.0.0.1 (through docker-proxy)."
	echo "Load: \`wrk -t$threads -c$connections -d${duration}s\` ($(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)), one run at a time, the other container idle."
	echo
	echo "- main: $(basename "$base_bin") ($(stat -c %s "$base_bin") bytes); idle VmRSS ${idle[main]} kB"
	echo "- branch: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes') ($(stat -c %s "$new_bin") bytes); idle VmRSS ${idle[branch]} kB"
	echo
	echo "Socket errors are wrk's connect / read / write / timeout counts; engine requests are those the"
	echo "engine saw from that container during the run; VmRSS is berth's (kB) before the run, its peak"
	echo "during, and 3 s after."
	echo
	echo "| binary | path | requests/s | requests | mean latency | socket errors c/r/w/t | non-2xx | engine /_ping | engine requests | VmRSS before | VmRSS peak | VmRSS after |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Issue 14's targets on this machine, for the branch's binary (VmRSS against its idle size above):"
	echo
	printf '%s\n' "${verdicts[@]}"
} >"$out"
cat "$out"
