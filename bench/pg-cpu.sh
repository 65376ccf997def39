#!/usr/bin/env bash
# bench/pg-cpu.sh: one load run of lantls on PostgreSQL (or SQLite) with the
# CPU of every process per issuance, for before/after comparisons of the
# PostgreSQL store on a shared machine (alternate the binaries, compare CPU
# per issuance, not rates). Prints one tab-separated result line.
#
# Usage: bench/pg-cpu.sh [--help] BINDIR NAME [INSTANCES]
#
# BINDIR holds lantls, lantls-bench and tcpbalance, built from the tree
# under test:
#   go build -o BINDIR/ ./cmd/lantls ./bench/cmd/lantls-bench ./bench/cmd/tcpbalance
# NAME names the run (its work directory and database). INSTANCES (1 or 2)
# issuers share one database and one CA directory behind tcpbalance, as in
# bench/issue.sh.
#
# The PostgreSQL server (Debian's binaries) is started once on
# 127.0.0.1:$PG_PORT with a data directory in $PG_DIR and left running for
# the next run (stop it with pg_ctl -D $PG_DIR/data stop): default
# durability (fsync, synchronous_commit and full_page_writes on),
# shared_buffers=256MB, max_connections=200. Each run gets a fresh
# database, N devices (lantls admin device add) and a load of C concurrent
# simulated devices over 64 source addresses for DUR (lantls-bench issue).
#
# Output: rate, issued, CPU ms per issuance of the issuers, of PostgreSQL
# (postmaster and every backend, from /proc), their total, of the load
# client and of the balancer, and per instance; transactions (xact_commit)
# and WAL flushes (pg_stat_wal wal_sync) per issuance; the 1-minute load
# average before and after.
#
# Knobs (environment):
#   N=12000 DUR=15s C=64 POOL=16     devices, duration, concurrency, pool
#   PG_PORT=19432 PG_DIR=/tmp/lantls-pg-cpu
#   SQLITE=1      the issuer on its SQLite store instead
#   SOCK=1        connect over PostgreSQL's Unix socket instead of TCP
#   PIN0=, PIN1=  taskset CPU lists for instance 0 and 1; PINPG= for the
#                 running PostgreSQL (postmaster and backends), PINCL= for
#                 the load client, PINLB= for the balancer
#   QUOTA=25      each instance in a cgroup of its own (cgroup v1 cpu
#                 controller) capped at QUOTA% of one CPU: an instance with
#                 a CPU of its own, scaled down, where the machine has too
#                 few cores to give each instance a whole one (needs root)
#   ISSUER_ENV="GOMAXPROCS=1"  environment for the issuers only (an
#                 issuer pinned to one core gets GOMAXPROCS=1 from Go itself)
#   EXTRA="..."   more flags for instance 0
#   PPROF=host:port  with EXTRA="--pprof host:port", an 8 s CPU profile of
#                 instance 0 from second 3 into WORK/NAME/cpu.prof
#   PERF=1        perf record -a -g for 8 s from second 3 into WORK/NAME
#   WORK=/tmp/lantls-pg-cpu-runs
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
	usage
	exit 0
fi
for arg in "$@"; do
	if [[ $arg == -* ]]; then
		printf 'bench/pg-cpu.sh: unknown option %s (see --help)\n' "$arg" >&2
		exit 2
	fi
done
if [[ $# -lt 2 || $# -gt 3 ]]; then
	printf 'bench/pg-cpu.sh: want BINDIR NAME [INSTANCES], got %d arguments (see --help)\n' "$#" >&2
	exit 2
fi
BIN=$1 NAME=$2 NI=${3:-1}
N=${N:-12000} DUR=${DUR:-15s} C=${C:-64}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDIR=${PG_DIR:-/tmp/lantls-pg-cpu} PORT=${PG_PORT:-19432}
W=${WORK:-/tmp/lantls-pg-cpu-runs}/$NAME
rm -rf "$W"
mkdir -p "$W"
CLK=$(getconf CLK_TCK)
as_postgres() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [[ ! -s $PGDIR/data/postmaster.pid ]]; then
	mkdir -p "$PGDIR"
	[[ $(id -u) == 0 ]] && chown postgres "$PGDIR"
	[[ -d $PGDIR/data ]] || as_postgres "$PG_BIN/initdb" -D "$PGDIR/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
	as_postgres "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w start \
		-o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" >/dev/null
fi
PM=$(head -1 "$PGDIR/data/postmaster.pid")
if [[ -n ${PINPG:-} ]]; then
	taskset -a -p -c "$PINPG" "$PM" >/dev/null
	for p in $(cat "/proc/$PM/task/$PM/children"); do taskset -a -p -c "$PINPG" "$p" >/dev/null || true; done
fi
psql() { as_postgres "$PG_BIN/psql" -At -h "$PGDIR" -p "$PORT" -U postgres "$@"; }
DB=b_$(echo "$NAME" | tr -c 'a-z0-9\n' '_')
psql -q -c "DROP DATABASE IF EXISTS $DB" postgres 2>/dev/null
psql -q -c "CREATE DATABASE $DB" postgres
STORE=(--store "postgres://postgres@127.0.0.1:$PORT/$DB?sslmode=disable&pool_max_conns=${POOL:-16}")
[[ -n ${SOCK:-} ]] && STORE=(--store "postgres://postgres@/$DB?host=$PGDIR&port=$PORT&sslmode=disable&pool_max_conns=${POOL:-16}")
[[ -n ${SQLITE:-} ]] && STORE=()
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ports=()
for _ in $(seq "$NI"); do ports+=("$(free_port)"); done
lbpre=()
[[ -n ${PINLB:-} ]] && lbpre=(taskset -c "$PINLB")
"${lbpre[@]}" "$BIN/tcpbalance" --listen 127.0.0.1:0 "${ports[@]/#/127.0.0.1:}" >"$W/lb.log" 2>&1 &
LB=$!
pids=()
CG=/sys/fs/cgroup/cpu
cleanup() {
	kill "${pids[@]}" "$LB" 2>/dev/null || true
	if [[ -n ${QUOTA:-} ]]; then
		wait "${pids[@]}" 2>/dev/null || true
		for i in $(seq 0 $((NI - 1))); do rmdir "$CG/lantls-pg-cpu-$NAME-i$i" 2>/dev/null || true; done
	fi
}
trap cleanup EXIT
for _ in $(seq 300); do grep -qs listening "$W/lb.log" && break; sleep 0.1; done
lb=$(sed -n 's/^listening on //p' "$W/lb.log")
for i in $(seq 0 $((NI - 1))); do
	pin=PIN$i pre=()
	[[ -n ${!pin:-} ]] && pre=(taskset -c "${!pin}")
	mkdir -p "$W/i$i"
	# shellcheck disable=SC2086 # EXTRA is flags
	# shellcheck disable=SC2086 # ISSUER_ENV is assignments
	"${pre[@]}" env ${ISSUER_ENV:-} "$BIN/lantls" issuer --log-level warn --limit-accounts-per-source 1000000000/1h "${STORE[@]}" \
		--ca-dir "$W/ca" --base-url "https://$lb" --data "$W/i$i" --listen "127.0.0.1:${ports[$i]}" \
		--http-listen 127.0.0.1:0 --dns-listen 127.0.0.1:0 $( ((i == 0)) && echo "${EXTRA:-}") >"$W/i$i.log" 2>&1 &
	pids+=($!)
	if [[ -n ${QUOTA:-} ]]; then
		g=$CG/lantls-pg-cpu-$NAME-i$i
		mkdir -p "$g"
		echo 100000 >"$g/cpu.cfs_period_us"
		echo $((QUOTA * 1000)) >"$g/cpu.cfs_quota_us"
		echo $! >"$g/cgroup.procs"
	fi
	for _ in $(seq 300); do [[ -s $W/i$i/issuer.json ]] && break; sleep 0.1; done
	for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/${ports[$i]}") 2>/dev/null && break; sleep 0.1; done
done
"$BIN/lantls" admin --data "$W/i0" "${STORE[@]}" device add --owner bench --name dev --count "$N" --json >"$W/eab"
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
pg_ticks() {
	[[ -n ${SQLITE:-} ]] && { echo 0; return; }
	local t p
	t=$(awk '{print $14+$15+$16+$17}' "/proc/$PM/stat")
	for p in $(cat "/proc/$PM/task/$PM/children"); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
	echo "$t"
}
pg_counts() {
	psql -F' ' -c "SELECT xact_commit, (SELECT wal_sync FROM pg_stat_wal) FROM pg_stat_database WHERE datname='$DB'" postgres
}
l0=$(cut -d' ' -f1 /proc/loadavg)
declare -A pi0
for p in "${pids[@]}"; do pi0[$p]=$(ticks "$p"); done
b0=$(ticks "$LB") i0=$(ticks "${pids[@]}") p0=$(pg_ticks) k0=$(pg_counts)
if [[ -n ${PPROF:-} ]]; then (sleep 3; curl -s -o "$W/cpu.prof" "http://$PPROF/debug/pprof/profile?seconds=8") & fi
if [[ -n ${PERF:-} ]]; then (sleep 3; perf record -a -g -o "$W/perf.data" -- sleep 8 >/dev/null 2>&1) & fi
clpre=()
[[ -n ${PINCL:-} ]] && clpre=(taskset -c "$PINCL")
/usr/bin/time -f "%U %S" -o "$W/client.time" "${clpre[@]}" "$BIN/lantls-bench" issue --directory "https://$lb/acme/directory" \
	--ca-bundle "$W/ca/root.pem" --c "$C" --duration "$DUR" --stall 5s --eab-file "$W/eab" --sources 64 --json >"$W/out.json" 2>"$W/client.log" || true
b1=$(ticks "$LB") i1=$(ticks "${pids[@]}") p1=$(pg_ticks) k1=$(pg_counts)
per=""
for p in "${pids[@]}"; do per="$per,$(($(ticks "$p") - ${pi0[$p]}))"; done
l1=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$NAME" "$W/out.json" $((i1 - i0)) $((p1 - p0)) "$k0" "$k1" "$CLK" "$(cat "$W/client.time")" "$l0" "$l1" $((b1 - b0)) "${per#,}" <<'PY'
import json, sys
name, f, it, pt, k0, k1, clk, ct, l0, l1, bt, per = sys.argv[1:]
k = [int(b) - int(a) for a, b in zip(k0.split(), k1.split())] or [0, 0]
d = json.load(open(f))
n = d.get("issued", 0) or 1
ms = lambda ticks: int(ticks) / int(clk) * 1000 / n
pi = "/".join("%.2f" % ms(x) for x in per.split(","))
cu = sum(float(x) for x in ct.split()) * 1000 / n
print(f"{name}\trate={d.get('issuances_per_s', 0):.1f}/s\tissued={d.get('issued', 0)}\tissuer={ms(it):.2f}ms\t"
      f"pg={ms(pt):.2f}ms\ttotal={ms(it) + ms(pt):.2f}ms\tclient={cu:.2f}ms\tlb={ms(bt):.2f}ms\t"
      f"per-instance={pi}ms\txacts/iss={k[0] / n:.1f}\twalsync/iss={k[1] / n:.2f}\t"
      f"load={l0}->{l1}\tfailed={d.get('failed')}")
PY
