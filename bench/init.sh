#!/usr/bin/env bash
# berth next to tini, dumb-init and catatonit, in one run on one machine.
#
#   bash bench/init.sh            # writes bench/init-results.md
#
# Measures, for each init run as a plain process (a subreaper, as each does
# when it is not PID 1):
#   - per-exec overhead: `INIT -- true`, mean over many runs (hyperfine), and
#     the ratio to tini;
#   - steady RSS: VmRSS of the init itself while it supervises `sleep`;
#   - binary size, and whether it is static;
#   - orphan storm: `INIT -- sh -c 'spawn 2000 orphans; wait for them'`.
# Installs the peers from Debian's packages when missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/init-results.md}
runs=${BENCH_RUNS:-1000}

need=()
for tool in tini dumb-init catatonit hyperfine; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --quiet
# berth as an init only: Docker detection (a stat and a ping or two) is not
# what tini and the others do, and is measured by bench/dind.sh instead.
export BERTH_DOCKER=off
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name|binary|argv prefix (each as a subreaper where it has the option)
inits=(
  "berth|$berth|$berth --"
  "tini|$(command -v tini)|$(command -v tini) -s --"
  "dumb-init|$(command -v dumb-init)|$(command -v dumb-init) --"
  "catatonit|$(command -v catatonit)|$(command -v catatonit) --"
)

storm='for i in $(seq 2000); do (true &); done; while pgrep -x true >/dev/null; do :; done'

rss_of() { # prefix -> kB of the init while it supervises sleep
  local prefix=$1 pid
  $prefix sleep 3 & pid=$!
  sleep 1
  awk '/^VmRSS/ {print $2}' "/proc/$pid/status"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

hf_args=(-N --warmup 50 --runs "$runs" --export-json "$tmp/exec.json")
storm_args=(--warmup 1 --runs 5 --export-json "$tmp/storm.json")
exec_cmds=() storm_cmds=()
for row in "${inits[@]}"; do
  IFS='|' read -r name bin prefix <<<"$row"
  exec_cmds+=(-n "$name" "$prefix true")
  storm_cmds+=(-n "$name" "$prefix sh -c '$storm'")
done
exec_cmds+=(-n "true (no init)" "$(command -v true)")
hyperfine "${hf_args[@]}" "${exec_cmds[@]}" >/dev/null
hyperfine "${storm_args[@]}" "${storm_cmds[@]}" >/dev/null

{
  echo "# Init benchmark"
  echo
  echo "Produced by \`bash bench/init.sh\` on $(date -u +%Y-%m-%d), one run, all inits side by side."
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME")."
  echo "Exec overhead: mean of $runs runs of \`INIT -- true\` (hyperfine -N). Orphan storm: mean of 5 runs of 2000 orphans."
  echo "Each init runs as a plain process (a subreaper where it has the option); berth with BERTH_DOCKER=off, as an init only."
  echo
  echo "| init | binary | static | exec \`-- true\` (ms) | ratio to tini | RSS supervising (kB) | orphan storm (ms) |"
  echo "|---|---|---|---|---|---|---|"
  for row in "${inits[@]}"; do
    IFS='|' read -r name bin prefix <<<"$row"
    size=$(stat -c %s "$bin")
    if file -L "$bin" | grep -q 'static'; then static=yes; else static=no; fi
    rss=$(rss_of "$prefix")
    python3 - "$tmp/exec.json" "$tmp/storm.json" "$name" "$size" "$static" "$rss" <<'PY'
import json, sys
exec_file, storm_file, name, size, static, rss = sys.argv[1:]
ex = {r["command"]: r["mean"] for r in json.load(open(exec_file))["results"]}
st = {r["command"]: r["mean"] for r in json.load(open(storm_file))["results"]}
kb = int(size) / 1024
size_text = f"{kb/1024:.2f} MB" if kb > 1024 else f"{kb:.1f} KB"
print(f"| {name} | {size_text} | {static} | {ex[name]*1000:.2f} | {ex[name]/ex['tini']:.2f} | {rss} | {st[name]*1000:.0f} |")
PY
  done
  python3 - "$tmp/exec.json" <<'PY'
import json, sys
ex = {r["command"]: r["mean"] for r in json.load(open(sys.argv[1]))["results"]}
print(f"\nBaseline: `true` without any init, {ex['true (no init)']*1000:.2f} ms.")
PY
  echo
  echo "Targets (issue 2): exec overhead within 1.1x of tini, RSS no more than tini's, binary under 3 MB and static."
} >"$out"
cat "$out"
