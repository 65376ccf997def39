#!/usr/bin/env bash
# bench/issue.sh: issuance under load, lantls against Pebble and step-ca,
# all driven by the same load client (`lantls-bench issue`) on this
# machine, at several concurrencies; then lantls with a million devices in
# its store; then one run of lantls under pprof (`lantls issuer --pprof`);
# then lantls on PostgreSQL at the highest concurrency, one instance and two
# behind a TCP balancer on one database, the second run profiled.
# Writes bench/results/issue-YYYY-MM-DD.md. See bench/README.md.
#
# Usage: bench/issue.sh [--help]    (no arguments; knobs are variables)
#
# Knobs (environment):
#   QUICK=1            smoke run of about a minute: c=4 only, small N, 5 s
#                      runs, a 20,000-device scale run; writes to the work
#                      dir instead of bench/results
#   SKIP_SCALE=1       no million-device run
#   SKIP_PEBBLE=1, SKIP_STEPCA=1, SKIP_PROFILE=1, SKIP_CLIENT_CHECK=1
#   SKIP_POSTGRES=1    no PostgreSQL runs
#   PG_PORT=15432      the benchmark's own PostgreSQL server (Debian's
#                      binaries, a fresh cluster in a temporary dir, default
#                      durability: fsync and synchronous_commit on)
#   PG_POOL=16         connections per issuer (pool_max_conns in --store)
#   SOURCES=64         lantls runs spread their connections over this many
#                      source addresses (127.0.0.1, .2, ...), as a fleet's
#                      networks, so no per-source rate-limit row is hot;
#                      1 sends everything from 127.0.0.1
#   CONCURRENCY="4 16 64"  DURATION=15s  STALL=5s
#   N_OURS=20000  N_PEBBLE=6000  N_STEPCA=6000   issuances per run (at most)
#   SCALE_DEVICES=1000000
#   SOURCE=worktree|head   build lantls from the working tree (default) or
#                      from a clean copy of HEAD
#   OUT=FILE           where to write the results
#   KEEP=1             keep the work dir (logs, JSON results, profiles)
#   PEBBLE_PORT=14000 PEBBLE_MGMT_PORT=15000 STEPCA_PORT=9443 PPROF_PORT=6061
#
# Needs Go, root (step-ca's http-01 challenges are answered on
# 127.0.0.1:80) and the Go module proxy for the peers' first build. All
# traffic stays on 127.0.0.1; every run is bounded by --n, --duration and
# `timeout`.
set -euo pipefail

# usage prints the comment above, the script's documentation.
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
case $# in
0) ;;
*)
	if [[ $# == 1 && ($1 == -h || $1 == --help) ]]; then
		usage
		exit 0
	fi
	printf 'bench/issue.sh: unexpected argument %s; it takes none (see --help)\n' "$1" >&2
	exit 2
	;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bench/bin
PEBBLE_VERSION=v2.10.1
STEPCA_VERSION=v0.30.2

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	CONCURRENCY=${CONCURRENCY:-4}
	DURATION=${DURATION:-5s}
	N_OURS=${N_OURS:-1500} N_PEBBLE=${N_PEBBLE:-400} N_STEPCA=${N_STEPCA:-300}
	SCALE_DEVICES=${SCALE_DEVICES:-20000}
fi
CONCURRENCY=${CONCURRENCY:-4 16 64}
DURATION=${DURATION:-15s}
STALL=${STALL:-5s}
N_OURS=${N_OURS:-20000}
N_PEBBLE=${N_PEBBLE:-6000}
N_STEPCA=${N_STEPCA:-6000}
SCALE_DEVICES=${SCALE_DEVICES:-1000000}
SOURCE=${SOURCE:-worktree}
PEBBLE_PORT=${PEBBLE_PORT:-14000}
PEBBLE_MGMT_PORT=${PEBBLE_MGMT_PORT:-15000}
STEPCA_PORT=${STEPCA_PORT:-9443}
PPROF_PORT=${PPROF_PORT:-6061}
PG_PORT=${PG_PORT:-15432}
PG_POOL=${PG_POOL:-16}
SOURCES=${SOURCES:-64}
SOURCES_FLAG=(--sources "$SOURCES")
# Every simulated device registers from 127.0.0.1, so the per-source limit
# on new accounts is raised out of the way; it still runs and counts. The
# other limits (per account, per device) are left at their defaults: each
# device makes one account, one order and one certificate.
OURS_FLAGS=(--log-level warn --limit-accounts-per-source 1000000000/1h)
# The load client stops on its own after DURATION plus the time in-flight
# issuances need; `timeout` is the backstop for a client that hangs.
RUN_TIMEOUT=$(( ${DURATION%s} + 45 ))
MAX_C=$(tr ' ' '\n' <<<"$CONCURRENCY" | sort -n | tail -1)
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lantls-bench.XXXXXX")
if [[ $QUICK == 1 ]]; then
	OUT=${OUT:-$WORK/issue-quick.md}
else
	OUT=${OUT:-$ROOT/bench/results/issue-$(date -u +%F).md}
fi
SERVER_PID=
EXTRA_PIDS=()   # more issuer instances, stopped with the server
BALANCER_PID=   # tcpbalance in front of them
PG_DIR=
SCRIPT_START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
SCALE_LABEL=$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$SCALE_DEVICES")

cleanup() {
	stop_server
	stop_postgres
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "work dir kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

say() { printf '\n== %s (%ds)\n' "$*" $(( $(date +%s) - SCRIPT_START )) >&2; }

# note records a command line for the results file, with the work dir and
# the repository shortened.
note() {
	local line= a
	for a in "$@"; do
		# Arguments here never hold a single quote.
		if [[ ! $a =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then a="'$a'"; fi
		line+="$a "
	done
	line=${line//$WORK/\$WORK}
	line=${line//$ROOT/.}
	printf '%s\n' "${line% }" >>"$WORK/commands.txt"
}

# --- build -----------------------------------------------------------------

say "build"
mkdir -p "$BIN" "$WORK/runs"
SRC=$ROOT
if [[ $SOURCE == head ]]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
fi
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
t0=$(date +%s)
(cd "$SRC" && go build -o "$BIN/" ./cmd/lantls ./bench/cmd/lantls-bench ./bench/cmd/peerconf ./bench/cmd/issuereport ./bench/cmd/tcpbalance ./bench/cmd/floor)
# `go tool pprof` is built on first use; build it now, not while it would
# take CPU from the profiled run.
go tool pprof -h >/dev/null 2>&1 || true
BUILD_LANTLS=$(( $(date +%s) - t0 ))

# installed reports whether bin/NAME was built from module version VERSION.
installed() { [[ -x $BIN/$1 ]] && go version -m "$BIN/$1" 2>/dev/null | grep -q "mod.*[[:space:]]$2[[:space:]]"; }

t0=$(date +%s)
if [[ ${SKIP_PEBBLE:-0} != 1 ]] && ! installed pebble $PEBBLE_VERSION; then
	say "install Pebble $PEBBLE_VERSION"
	GOBIN=$BIN go install github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION
fi
BUILD_PEBBLE=$(( $(date +%s) - t0 ))
t0=$(date +%s)
if [[ ${SKIP_STEPCA:-0} != 1 ]] && ! installed step-ca $STEPCA_VERSION; then
	say "install step-ca $STEPCA_VERSION (about two minutes)"
	# With cgo a smart-card dependency wants libpcsclite.
	CGO_ENABLED=0 GOBIN=$BIN go install github.com/smallstep/certificates/cmd/step-ca@$STEPCA_VERSION
fi
BUILD_STEPCA=$(( $(date +%s) - t0 ))
PEBBLE_CERTS=$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@$PEBBLE_VERSION/test/certs
if [[ ${SKIP_PEBBLE:-0} != 1 && ! -d $PEBBLE_CERTS ]]; then
	(cd "$WORK" && GOFLAGS=-mod=mod go mod download github.com/letsencrypt/pebble/v2@$PEBBLE_VERSION)
fi

# --- servers ---------------------------------------------------------------

# wait_port waits up to 30 s for a listener on 127.0.0.1:$1, or for the
# server to die.
wait_port() {
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_server() {
	local pid
	for pid in "${EXTRA_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${EXTRA_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	EXTRA_PIDS=()
	if [[ -n $BALANCER_PID ]]; then
		kill -TERM "$BALANCER_PID" 2>/dev/null || true
		wait "$BALANCER_PID" 2>/dev/null || true
		BALANCER_PID=
	fi
	[[ -n $SERVER_PID ]] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

# start_ours DIR [FLAGS...]: runs an issuer on a free port in DIR and sets
# DIRECTORY and CA_BUNDLE.
start_ours() {
	local dir=$1
	shift
	mkdir -p "$dir"
	rm -f "$dir/issuer.json"
	local cmd=("$BIN/lantls" issuer "${OURS_FLAGS[@]}" "$@" --data "$dir" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --dns-listen 127.0.0.1:0)
	note "${cmd[@]}"
	"${cmd[@]}" >"$dir.log" 2>&1 &
	SERVER_PID=$!
	SERVER_LOG=$dir.log
	for _ in $(seq 300); do
		[[ -s $dir/issuer.json ]] && break
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	DIRECTORY=$(sed -n 's/.*"directory": "\(.*\)".*/\1/p' "$dir/issuer.json")
	CA_BUNDLE=$dir/ca/root.pem
	local port=${DIRECTORY#https://127.0.0.1:}
	wait_port "${port%%/*}"
}

start_pebble() {
	local dir=$1 n=$2
	mkdir -p "$dir"
	note "$BIN/peerconf" pebble --dir "$dir" --listen "127.0.0.1:$PEBBLE_PORT" --management "127.0.0.1:$PEBBLE_MGMT_PORT" --certs "$PEBBLE_CERTS" --eab "$n"
	"$BIN/peerconf" pebble --dir "$dir" --listen "127.0.0.1:$PEBBLE_PORT" --management "127.0.0.1:$PEBBLE_MGMT_PORT" --certs "$PEBBLE_CERTS" --eab "$n"
	note env PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 "$BIN/pebble" -config "$dir/pebble.json"
	PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
		"$BIN/pebble" -config "$dir/pebble.json" >"$dir.log" 2>&1 &
	SERVER_PID=$!
	SERVER_LOG=$dir.log
	DIRECTORY=https://127.0.0.1:$PEBBLE_PORT/dir
	CA_BUNDLE=$PEBBLE_CERTS/pebble.minica.pem
	wait_port "$PEBBLE_PORT"
}

start_stepca() {
	local dir=$1
	mkdir -p "$dir"
	note "$BIN/peerconf" stepca --dir "$dir" --listen "127.0.0.1:$STEPCA_PORT"
	"$BIN/peerconf" stepca --dir "$dir" --listen "127.0.0.1:$STEPCA_PORT"
	note "$BIN/step-ca" "$dir/ca.json"
	"$BIN/step-ca" "$dir/ca.json" >"$dir.log" 2>&1 &
	SERVER_PID=$!
	SERVER_LOG=$dir.log
	DIRECTORY=https://127.0.0.1:$STEPCA_PORT/acme/acme/directory
	CA_BUNDLE=$dir/root_ca.crt
	wait_port "$STEPCA_PORT"
}

# --- PostgreSQL --------------------------------------------------------------

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

# as_postgres runs a PostgreSQL binary as the user postgres when we are
# root (initdb and postgres refuse root).
as_postgres() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres initializes a cluster in a new temporary directory and
# starts it on 127.0.0.1:$PG_PORT with PostgreSQL's default durability.
start_postgres() {
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lantls-bench-pg.XXXXXX")
	[[ $(id -u) == 0 ]] && chown postgres "$PG_DIR"
	note "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C
	as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1
	local opts="-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB"
	note "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "$opts" -w start
	as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -o "$opts" -w start >"$WORK/pg_ctl.log" 2>&1
}

stop_postgres() {
	[[ -n $PG_DIR ]] || return 0
	as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$PG_DIR"
	PG_DIR=
}

# pg_createdb NAME creates a database and prints its --store URL.
pg_createdb() {
	as_postgres "$PG_BIN/psql" -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -c "CREATE DATABASE $1" postgres >&2
	echo "postgres://postgres@127.0.0.1:$PG_PORT/$1?sslmode=disable&pool_max_conns=$PG_POOL"
}

# pg_ticks prints the CPU ticks of the benchmark's PostgreSQL: the
# postmaster, its live children and the children it has reaped.
pg_ticks() {
	[[ -n $PG_DIR && -s $PG_DIR/data/postmaster.pid ]] || { echo 0; return; }
	local pm pid t
	pm=$(head -1 "$PG_DIR/data/postmaster.pid")
	t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat" 2>/dev/null || echo 0)
	for pid in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
		t=$(( t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
	done
	echo "$t"
}

# start_instances N STORE [FLAGS...]: N issuers on STORE sharing one CA
# dir, behind tcpbalance, FLAGS for the first only; sets DIRECTORY,
# CA_BUNDLE and INSTANCE_DIR (the first instance's data dir), SERVER_PID
# and EXTRA_PIDS.
start_instances() {
	local n=$1 storeurl=$2 i ports=() lb
	shift 2
	local base=$WORK/pg-n$n
	mkdir -p "$base"
	for i in $(seq "$n"); do ports+=("$(free_port)"); done
	"$BIN/tcpbalance" --listen 127.0.0.1:0 "${ports[@]/#/127.0.0.1:}" >"$base/balancer.log" 2>&1 &
	BALANCER_PID=$!
	for _ in $(seq 50); do grep -q listening "$base/balancer.log" && break; sleep 0.1; done
	lb=$(sed -n 's/^listening on //p' "$base/balancer.log")
	for i in $(seq 0 $(( n - 1 ))); do
		local dir=$base/i$i
		mkdir -p "$dir"
		local cmd=("$BIN/lantls" issuer "${OURS_FLAGS[@]}" --store "$storeurl" --ca-dir "$base/ca"
			--base-url "https://$lb" --data "$dir" --listen "127.0.0.1:${ports[$i]}" --http-listen 127.0.0.1:0
			--dns-listen 127.0.0.1:0)
		if (( i == 0 )); then cmd+=("$@"); fi
		note "${cmd[@]}"
		"${cmd[@]}" >"$dir.log" 2>&1 &
		if (( i == 0 )); then SERVER_PID=$!; else EXTRA_PIDS+=($!); fi
		# One at a time: the first creates the CA the others load.
		for _ in $(seq 300); do
			[[ -s $dir/issuer.json ]] && break
			sleep 0.1
		done
		wait_port "${ports[$i]}" || return 1
	done
	note "$BIN/tcpbalance" --listen 127.0.0.1:0 "${ports[@]/#/127.0.0.1:}"
	INSTANCE_DIR=$base/i0
	DIRECTORY=https://$lb/acme/directory
	CA_BUNDLE=$base/ca/root.pem
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- load ------------------------------------------------------------------

# server_ticks prints the CPU ticks of the server: every issuer instance
# and, when one runs, the benchmark's PostgreSQL.
server_ticks() {
	local pid pids=("$SERVER_PID" "${EXTRA_PIDS[@]}") t=0
	for pid in "${pids[@]}"; do
		t=$(( t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
	done
	echo $(( t + $(pg_ticks) ))
}


# children_cpu prints the CPU seconds (user + system) of every child this
# shell has waited for. `times` must run in this shell, not in a command
# substitution's subshell, which has no children of its own.
children_cpu() {
	times >"$WORK/times.txt"
	tail -1 "$WORK/times.txt" | awk '{
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
		print s
	}'
}

# load SERVER C MANIFEST ARGS...: one load run against the running server,
# recorded as a line of MANIFEST.
load() {
	local server=$1 c=$2 manifest=$3
	shift 3
	local name=$WORK/runs/$server-c$c
	local args=(issue --directory "$DIRECTORY" --ca-bundle "$CA_BUNDLE" --c "$c" --duration "$DURATION" --stall "$STALL" "$@")
	note timeout -k 5 "$RUN_TIMEOUT" "$BIN/lantls-bench" "${args[@]}" --json
	local s0 c0 t0 rc s1 c1 t1
	children_cpu >"$WORK/cpu0.txt"
	s0=$(server_ticks) c0=$(<"$WORK/cpu0.txt") t0=$(date +%s.%N)
	set +e
	timeout -k 5 "$RUN_TIMEOUT" "$BIN/lantls-bench" "${args[@]}" --json >"$name.json" 2>"$name.log"
	rc=$?
	set -e
	children_cpu >"$WORK/cpu1.txt"
	s1=$(server_ticks) c1=$(<"$WORK/cpu1.txt") t1=$(date +%s.%N)
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then
		echo "server exited during the run; its log: $(tail -1 "$name.log")" >>"$name.log"
	elif grep -Eq '"stopped_by": *"stall"' "$name.json" 2>/dev/null && [[ -n ${SERVER_LOG:-} ]]; then
		# The server hung: a Go server prints its goroutines on SIGQUIT,
		# which the report reads to say where it was waiting.
		local size
		size=$(stat -c %s "$SERVER_LOG")
		kill -QUIT "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		tail -c "+$((size + 1))" "$SERVER_LOG" >"$name.stacks"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$c" "$rc" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')" \
		"$(awk -v a="$s0" -v b="$s1" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}')" \
		"$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" \
		"$name.json" "$name.log" >>"$manifest"
	grep -E '"(issuances_per_s|stopped_by|issued|failed)"' "$name.json" 2>/dev/null | tr -d ' \n' >&2 || true
	echo " (exit $rc)" >&2
}

# failed_start SERVER C MANIFEST LOG: records a server that did not start.
failed_start() {
	echo "server did not start: $(tail -3 "$4" | tr '\n' ' ')" >"$WORK/runs/$1-c$2.log"
	printf '%s\t%s\t%s\t0\t0\t0\t%s\t%s\n' "$1" "$2" 1 "$WORK/runs/$1-c$2.json" "$WORK/runs/$1-c$2.log" >>"$3"
	echo "$1 did not start; see $4" >&2
}

# The floor: the cryptography an issuance cannot avoid on the server,
# measured now, before any server runs (bench/floor). Every table of ours
# shows its server CPU per issuance as a multiple of it.
say "floor"
note "$BIN/floor" --json
"$BIN/floor" --json >"$WORK/floor.json"
FLOOR=(--floor "$WORK/floor.json")

RUNS=$WORK/runs.tsv
: >"$RUNS"

for c in $CONCURRENCY; do
	say "ours, c=$c"
	dir=$WORK/ours-c$c
	if start_ours "$dir"; then
		note "$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json
		"$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json >"$dir.eab"
		load ours "$c" "$RUNS" --eab-file "$dir.eab" "${SOURCES_FLAG[@]}"
	else
		failed_start ours "$c" "$RUNS" "$dir.log"
	fi
	stop_server
	rm -rf "$dir"

	if [[ ${SKIP_PEBBLE:-0} != 1 ]]; then
		say "Pebble, c=$c"
		dir=$WORK/pebble-c$c
		if start_pebble "$dir" "$N_PEBBLE"; then
			load pebble "$c" "$RUNS" --eab-file "$dir/eab.txt" --names-template 'd{i}.example.com,*.d{i}.example.com'
		else
			failed_start pebble "$c" "$RUNS" "$dir.log"
		fi
		stop_server
	fi

	if [[ ${SKIP_STEPCA:-0} != 1 ]]; then
		say "step-ca, c=$c"
		dir=$WORK/step-ca-c$c
		if start_stepca "$dir"; then
			load step-ca "$c" "$RUNS" --names-template 127.0.0.1 --n "$N_STEPCA"
		else
			failed_start step-ca "$c" "$RUNS" "$dir.log"
		fi
		stop_server
		rm -rf "$dir/db"
	fi
done

# The same run of ours at the highest concurrency with golang.org/x/crypto/acme
# as the client, to show what the lean client saves.
if [[ ${SKIP_CLIENT_CHECK:-0} != 1 ]]; then
	say "ours, c=$MAX_C, x/crypto/acme client"
	dir=$WORK/ours-xacme
	if start_ours "$dir"; then
		note "$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json
		"$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json >"$dir.eab"
		load ours-xacme "$MAX_C" "$RUNS" --eab-file "$dir.eab" "${SOURCES_FLAG[@]}" --client xacme
	else
		failed_start ours-xacme "$MAX_C" "$RUNS" "$dir.log"
	fi
	stop_server
	rm -rf "$dir"
fi

# --- scale -----------------------------------------------------------------

SCALE=$WORK/scale.tsv
SEED_OUT=$WORK/seed.txt
DB_BYTES=
if [[ ${SKIP_SCALE:-0} != 1 ]]; then
	say "scale: seed $SCALE_DEVICES devices"
	dir=$WORK/ours-scale
	mkdir -p "$dir"
	: >"$SCALE"
	note "$BIN/lantls-bench" seed --data "$dir" --devices "$SCALE_DEVICES" --batch 25000
	"$BIN/lantls-bench" seed --data "$dir" --devices "$SCALE_DEVICES" --batch 25000 >"$SEED_OUT" 2>"$WORK/seed.log"
	say "scale: ours with $SCALE_DEVICES devices, c=$MAX_C"
	if start_ours "$dir"; then
		note "$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json
		"$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json >"$dir.eab"
		load ours-scale "$MAX_C" "$SCALE" --eab-file "$dir.eab" "${SOURCES_FLAG[@]}"
	else
		failed_start ours-scale "$MAX_C" "$SCALE" "$dir.log"
	fi
	stop_server
	rm -rf "$dir"
fi

# --- profile ---------------------------------------------------------------

# One more run of ours at the highest concurrency, with the issuer's own
# pprof endpoint: a CPU profile over the middle of the run and a snapshot
# of the goroutines, to see where requests wait.
PROFILE_DIR=$WORK/profile
mkdir -p "$PROFILE_DIR"
export PPROF_TMPDIR=$PROFILE_DIR # where go tool pprof keeps its copies
PROFILE_NOTE=
PROFILE_SECONDS=$(( ${DURATION%s} * 2 / 3 ))
if [[ ${SKIP_PROFILE:-0} == 1 ]]; then
	PROFILE_NOTE="skipped (SKIP_PROFILE=1)"
elif ! "$BIN/lantls" issuer --help 2>/dev/null | grep -q -- --pprof; then
	PROFILE_NOTE="skipped: this lantls has no \`issuer --pprof\`"
else
	say "profile: ours under pprof, c=$MAX_C"
	dir=$WORK/ours-profile
	if start_ours "$dir" --pprof "127.0.0.1:$PPROF_PORT"; then
		note "$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json
		"$BIN/lantls" admin --data "$dir" device add --owner bench --name dev --count "$N_OURS" --json >"$dir.eab"
		pprof_url=http://127.0.0.1:$PPROF_PORT/debug/pprof
		note go tool pprof -proto -output "$PROFILE_DIR/server.prof" "$pprof_url/profile?seconds=$PROFILE_SECONDS"
		(
			sleep 1
			go tool pprof -proto -output "$PROFILE_DIR/server.prof" "$pprof_url/profile?seconds=$PROFILE_SECONDS" 2>"$PROFILE_DIR/fetch.log"
		) &
		fetch_pid=$!
		(
			sleep $(( ${DURATION%s} / 2 ))
			for i in 1 2 3 4 5; do
				go tool pprof -proto -output "$PROFILE_DIR/goroutine-$i.prof" "$pprof_url/goroutine" 2>>"$PROFILE_DIR/fetch.log"
				sleep 0.3
			done
		) &
		snap_pid=$!
		load ours-profiled "$MAX_C" "$WORK/profile.tsv" --eab-file "$dir.eab" "${SOURCES_FLAG[@]}" --cpuprofile "$PROFILE_DIR/client.prof"
		wait "$fetch_pid" "$snap_pid" || PROFILE_NOTE="profile fetch failed: $(tail -1 "$PROFILE_DIR/fetch.log")"
	else
		PROFILE_NOTE="skipped: the issuer did not start with --pprof"
	fi
	stop_server
	rm -rf "$dir"
fi

# pprof_top [FLAGS] PROFILE: the top entries of a profile.
pprof_top() { go tool pprof -top -nodecount=25 "$@" 2>/dev/null | sed -n '/^Showing nodes/,$p'; }

# pprof_share PROFILE REGEX: the percentage of samples with a frame
# matching REGEX. -nodefraction=0, or the nodes pprof drops as small are
# left out of the sum (a part's share came out up to a sixth too low).
pprof_share() {
	go tool pprof -top -nodecount=1000000 -nodefraction=0 -focus="$2" "$1" 2>/dev/null |
		sed -n 's/^Showing nodes accounting for [^,]*, \([0-9.]*%\) of .*/\1/p'
}

profile_shares() {
	local prof=$1
	printf '| part | share of CPU samples |\n| --- | ---: |\n'
	while IFS='|' read -r label regex; do
		printf '| %s | %s |\n' "${label% }" "$(pprof_share "$prof" "$regex")"
	done <<-'EOF'
		ECDSA P-256 verification (JWS, CSR) |ecdsa\.(Verify|verify)
		ECDSA P-256 signing |ecdsa\.(Sign|sign)
		certificate creation (ca/local Sign, signature included) |ca/local\.\(\*CA\)\.Sign$
		store (lantls/store/sqlite and SQLite, or lantls/store/postgres and pgx) |lantls/store/(sqlite|postgres)|modernc\.org/sqlite|jackc/pgx
		JSON encoding and decoding |encoding/json|go-jose/v4/json
		TLS record layer |crypto/tls\.\(\*Conn\)\.(Read|Write)
		TLS handshakes |crypto/tls\.\(\*Conn\)\.(Handshake|serverHandshake|clientHandshake)
		system calls |syscall\.|Syscall
		garbage collection and allocation |runtime\.(gcBgMarkWorker|gcAssist|mallocgc)
		logging (log/slog) |log/slog\.
		metrics (Prometheus counters, histograms) |client_golang/prometheus\.\(\*(histogram|counter|gauge|summary)
	EOF
}

# --- PostgreSQL runs ---------------------------------------------------------

PG_RUNS=$WORK/pg-runs.tsv
PG_PROFILE_DIR=$WORK/pg-profile
PG_NOTE=
if [[ ${SKIP_POSTGRES:-0} == 1 ]]; then
	PG_NOTE="skipped (SKIP_POSTGRES=1)"
elif [[ -z $PG_BIN ]]; then
	PG_NOTE="skipped: no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)"
else
	say "PostgreSQL: start a server on 127.0.0.1:$PG_PORT"
	: >"$PG_RUNS"
	mkdir -p "$PG_PROFILE_DIR"
	if ! start_postgres; then
		PG_NOTE="skipped: PostgreSQL did not start: $(tail -3 "$WORK/pg_ctl.log" | tr '\n' ' ')"
	else
		grep -P "^ours\t$MAX_C\t" "$RUNS" >>"$PG_RUNS" || true
		for n in 1 2; do
			say "ours on PostgreSQL, $n instance(s), c=$MAX_C"
			url=$(pg_createdb "bench$n")
			flags=()
			if (( n == 2 )); then flags=(--pprof "127.0.0.1:$PPROF_PORT"); fi
			if start_instances "$n" "$url" "${flags[@]}"; then
				note "$BIN/lantls" admin --data "$INSTANCE_DIR" --store "$url" device add --owner bench --name dev --count "$N_OURS" --json
				"$BIN/lantls" admin --data "$INSTANCE_DIR" --store "$url" device add --owner bench --name dev --count "$N_OURS" --json >"$WORK/pg$n.eab"
				if (( n == 2 )); then
					pprof_url=http://127.0.0.1:$PPROF_PORT/debug/pprof
					note go tool pprof -proto -output "$PG_PROFILE_DIR/server.prof" "$pprof_url/profile?seconds=$PROFILE_SECONDS"
					(
						sleep 1
						go tool pprof -proto -output "$PG_PROFILE_DIR/server.prof" "$pprof_url/profile?seconds=$PROFILE_SECONDS" 2>"$PG_PROFILE_DIR/fetch.log"
					) &
					fetch_pid=$!
				fi
				pg0=$(pg_ticks)
				load "ours-pg$n" "$MAX_C" "$PG_RUNS" --eab-file "$WORK/pg$n.eab" "${SOURCES_FLAG[@]}"
				echo "$(( $(pg_ticks) - pg0 ))" >"$WORK/pg$n.ticks"
				if (( n == 2 )); then wait "$fetch_pid" || true; fi
			else
				failed_start "ours-pg$n" "$MAX_C" "$PG_RUNS" "$WORK/pg-n$n/i0.log"
			fi
			stop_server
		done
		as_postgres "$PG_BIN/psql" -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -c \
			"SELECT datname, xact_commit, xact_rollback, blks_hit, blks_read FROM pg_stat_database WHERE datname LIKE 'bench%' ORDER BY datname" postgres >"$WORK/pg-stats.txt" 2>&1 || true
		as_postgres "$PG_BIN/psql" -At -h "$PG_DIR" -p "$PG_PORT" -U postgres -c \
			"SELECT pg_size_pretty(pg_database_size('bench1'))" postgres >"$WORK/pg-size.txt" 2>&1 || true
		stop_postgres
	fi
fi

# --- report ----------------------------------------------------------------

say "report"
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
TOTAL=$(( $(date +%s) - SCRIPT_START ))

{
	cat <<-EOF
	# Issuance under load: lantls, Pebble and step-ca

	Written by \`bench/issue.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') in ${TOTAL}s (builds included).

	## Machine and software

	- $(nproc) CPUs: ${CPU_MODEL}; ${MEM} memory; Linux $(uname -r); load average ${LOAD_BEFORE} when the script started
	- $(go version | cut -d' ' -f3-)
	- lantls at commit ${COMMIT} ($( [[ $SOURCE == head ]] && echo "built from a clean copy of HEAD" || echo "built from the working tree, ${DIRTY} tracked files modified")), SQLite store, local signer
	- Pebble ${PEBBLE_VERSION} (\`go install github.com/letsencrypt/pebble/v2/cmd/pebble@${PEBBLE_VERSION}\`), stock, in-memory
	- step-ca ${STEPCA_VERSION} (\`CGO_ENABLED=0 go install github.com/smallstep/certificates/cmd/step-ca@${STEPCA_VERSION}\`), stock, Badger v2 database
	- build times: lantls ${BUILD_LANTLS}s, Pebble ${BUILD_PEBBLE}s, step-ca ${BUILD_STEPCA}s (0 when already built)

	The load client runs on the same machine as the server and takes CPU from
	it: the "client CPU" column says how much. Each simulated device makes a
	new P-256 account key, registers (with its own EAB key for lantls and
	Pebble), orders its names, reads both authorizations, answers where one is
	pending, finalizes with a CSR for a new P-256 key and downloads the chain:

	- lantls: \`L.Z\` and \`*.L.Z\` of a device made with \`lantls admin device add\`;
	  authorizations are valid at once (the EAB key binds the device).
	- Pebble: \`dN.example.com\` and \`*.dN.example.com\`, EAB required, with
	  \`PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1\`, \`retryAfter\` 0 and
	  \`PEBBLE_WFE_NONCEREJECT=0\` (stock Pebble refuses 5% of nonces on purpose
	  to test client retries). The client answers http-01 and dns-01, which
	  Pebble then takes as valid without looking.
	- step-ca: the IP identifier \`127.0.0.1\`, no EAB (its ACME provisioner
	  does not ask for it); step-ca validates http-01 for real against the
	  client's responder on 127.0.0.1:80.

	Where a server sends no \`Retry-After\` (Pebble), the client polls pending
	authorizations and processing orders every 10 ms. Every server is started
	fresh for each run. Each run stops after N issuances or ${DURATION}, and
	is declared hung when nothing finishes for ${STALL} while requests are in
	flight.

	## The floor

	The CPU time of the cryptography one issuance cannot avoid on the
	server, measured on this machine before the runs by \`bench/cmd/floor\`:
	each signed request's ES256 signature, the EAB MAC, the CSR's signature,
	the leaf's signature (no precertificate, no SCTs), and the server's half
	of each TLS handshake, counted per issuance from the load client's
	connections at the highest concurrency (it keeps them alive, as a
	device's client would within one issuance). The "× floor" column below
	divides each run's server CPU per issuance by it, with that run's own
	handshake count.

	EOF
	"$BIN/issuereport" "${FLOOR[@]}" --runs "$RUNS" --only floor
	cat <<-EOF
	## Issuance rate

	EOF
	"$BIN/issuereport" "${FLOOR[@]}" --runs "$RUNS"
	if compgen -G "$WORK/runs/pebble-*.stacks" >/dev/null; then
		cat <<-EOF
		Pebble's hangs are a deadlock in Pebble, not a fault of the load
		client: in the dumps nearly every request waits on the lock of Pebble's
		in-memory store. One lock-order cycle that leads there, read in its
		source at ${PEBBLE_VERSION} (v2.10.3 has the same code): \`wfe.Authz\`
		takes the authorization's lock and, holding it, looks up the account
		(\`validPOSTAsGET\` -> \`MemoryStore.GetAccountByKey\`, a read lock on
		the store); \`MemoryStore.FindValidAuthorization\`, called
		by every new order, holds the store's read lock while it read-locks
		every authorization in turn; and a new order's \`AddChallenge\` waits
		for the store's write lock, which stops new readers. Once an
		authorization fetch and a new order meet that way, every later request
		waits on the store's lock. Pebble is a test server
		that says it is not built for load; its rate before the hang is given
		where there was one.

		EOF
	fi
	if [[ -s ${SCALE:-} ]]; then
		cat <<-EOF
		## Scale: ${SCALE_LABEL} devices in the store

		The same run as lantls at c=${MAX_C} above, against an issuer whose store
		was first filled with ${SCALE_LABEL} devices and their EAB keys by
		\`lantls-bench seed\` (the run's own devices are added after them).

		EOF
		"$BIN/issuereport" "${FLOOR[@]}" --runs "$RUNS" --scale "$SCALE" --seed "$SEED_OUT" --scale-devices "$SCALE_DEVICES" --only scale
	fi
	echo "## Profile"
	echo
	if [[ -s $PROFILE_DIR/server.prof ]]; then
		cat <<-EOF
		lantls once more at c=${MAX_C}, as \`lantls issuer --pprof\`, with a CPU
		profile over ${PROFILE_SECONDS}s in the middle of the run (client CPU
		here includes fetching the profiles):

		EOF
		"$BIN/issuereport" "${FLOOR[@]}" --runs "$WORK/profile.tsv" --only table
		cat <<-EOF
		Server CPU by part (a sample counts in every part it has a frame in):

		$(profile_shares "$PROFILE_DIR/server.prof" | tee "$PROFILE_DIR/shares.md")

		Largest parts: $(tail -n +3 "$PROFILE_DIR/shares.md" | sort -t'|' -k3 -g -r | head -3 | awk -F'|' '{gsub(/^ +| +$/, "", $2); gsub(/ /, "", $3); printf "%s%s %s", (NR > 1 ? "; " : ""), $2, $3}').

		Server, top functions by own CPU time:

		\`\`\`
		$(pprof_top "$PROFILE_DIR/server.prof")
		\`\`\`

		Server, top functions by cumulative CPU time:

		\`\`\`
		$(pprof_top -cum "$PROFILE_DIR/server.prof")
		\`\`\`

		Where the goroutines serving HTTP connections are, in five snapshots
		halfway through the run added up (runtime, I/O and TLS frames hidden,
		so each counts at the innermost frame left; a keep-alive connection
		waiting for the client's next request is in \`connReader.Read\`):

		\`\`\`
		$(go tool pprof -top -nodecount=20 -focus='net/http\.\(\*conn\)\.serve' -hide='^(runtime|bufio|crypto/tls|net|internal/poll|syscall|sync|internal/sync|io|bytes)\.' "$PROFILE_DIR"/goroutine-*.prof 2>/dev/null | sed -n '/^Showing nodes/,$p')
		\`\`\`

		Load client (\`--cpuprofile\`), CPU by part:

		$(profile_shares "$PROFILE_DIR/client.prof")

		EOF
	else
		echo "${PROFILE_NOTE:-no profile was written}."
		echo
	fi
	echo "## PostgreSQL: one and two instances on one database"
	echo
	if [[ -s $PG_RUNS && -z $PG_NOTE ]]; then
		cat <<-EOF
		lantls at c=${MAX_C} with the same load client, against \`lantls issuer
		--store postgres://...\` on a PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') server of its own on this
		machine (Debian's binaries, a fresh cluster, default durability:
		\`fsync\` and \`synchronous_commit\` on, so every commit waits for its
		WAL flush; \`shared_buffers=256MB\`; ${PG_POOL} connections per
		instance, \`pool_max_conns\` in the URL). One instance, then two on one
		database and one CA directory behind \`bench/cmd/tcpbalance\` (a TCP
		balancer that hands each new connection to the next instance; the
		client keeps its connections alive, so each stays with one instance),
		both with the balancer's URL as \`--base-url\`. The first row is the
		SQLite run at the same concurrency from the table above. Server CPU
		here is every issuer instance plus PostgreSQL (the balancer is not
		counted); the issuer's own row cache and in-memory nonces are SQLite's
		alone, so every PostgreSQL request reads the database and every JWS
		spends its nonce there.

		EOF
		"$BIN/issuereport" "${FLOOR[@]}" --runs "$PG_RUNS" --only table
		rate_of() { sed -n 's/.*"issuances_per_s": *\([0-9.]*\).*/\1/p' "$WORK/runs/$1-c$MAX_C.json" 2>/dev/null | head -1; }
		r_sqlite=$(rate_of ours) r1=$(rate_of ours-pg1) r2=$(rate_of ours-pg2)
		ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
		cat <<-EOF
		Ratios of issuance rates at c=${MAX_C}: one instance on PostgreSQL / SQLite
		$(ratio "$r1" "$r_sqlite"); two instances / one $(ratio "$r2" "$r1"); two
		instances / SQLite $(ratio "$r2" "$r_sqlite").

		PostgreSQL's own CPU (all its processes) during each run:
		$(for n in 1 2; do
			t=$(cat "$WORK/pg$n.ticks" 2>/dev/null || echo 0)
			iss=$(sed -n 's/.*"issued": *\([0-9]*\).*/\1/p' "$WORK/runs/ours-pg$n-c$MAX_C.json" 2>/dev/null | head -1)
			awk -v t="$t" -v k="$CLK_TCK" -v n="$n" -v i="${iss:-0}" 'BEGIN { printf "%s instance(s): %.1f s, %s ms per issuance. ", n, t / k, (i > 0 ? sprintf("%.2f", t / k * 1000 / i) : "-") }'
		done)

		Transactions per database (\`pg_stat_database\`: name, commits,
		rollbacks, buffer hits, blocks read), and the size of the
		one-instance database after its run:

		\`\`\`
		$(cat "$WORK/pg-stats.txt" "$WORK/pg-size.txt" 2>/dev/null)
		\`\`\`

		EOF
		if [[ -s $PG_PROFILE_DIR/server.prof ]]; then
			cat <<-EOF
			CPU profile of the first of the two instances over ${PROFILE_SECONDS}s in
			the middle of the two-instance run, by part:

			$(profile_shares "$PG_PROFILE_DIR/server.prof")

			Top functions by cumulative CPU time:

			\`\`\`
			$(pprof_top -cum "$PG_PROFILE_DIR/server.prof")
			\`\`\`

			EOF
		fi
	else
		echo "${PG_NOTE:-no PostgreSQL run was recorded}."
		echo
	fi
	cat <<-EOF
	## Commands

	\`\`\`
	EOF
	cat "$WORK/commands.txt"
	cat <<-EOF
	\`\`\`

	\`\$WORK\` is a temporary directory; \`KEEP=1 bench/issue.sh\` keeps it
	with every log, JSON result and profile.
	EOF
} >"$OUT"
say "results written to $OUT"
