#!/usr/bin/env bash
# bench/dns.sh: the issuer's authoritative DNS against Knot DNS (and CoreDNS
# when a binary is at hand), both serving the same records, queried by
# dnsperf with the same query file in one run. Writes
# bench/results/dns-YYYY-MM-DD.md. See bench/README.md.
#
# Usage: bench/dns.sh [--help]    (no arguments; knobs are variables)
#
# The records: DEVICES devices, each with an IPv4 and an IPv6 address it
# reported and an _acme-challenge TXT record (bench/cmd/dnszone seeds the
# issuer's store and writes the same records as a zone file for the peers,
# address-names listed one by one since peers cannot derive them). The query
# mix: 30% IPv4 address-names, 10% IPv6 address-names, 25% device names
# (L.Z A), 20% NXDOMAIN (an address-name under an unknown label), 15% TXT.
#
# Per server: a throughput run (dnsperf as fast as the server answers,
# OUTSTANDING queries in flight) and a latency run at a fixed LAT_QPS with
# per-query latencies (-v) for p50/p99. The server's CPU seconds and
# dnsperf's own are read from /proc, so the table shows what each side
# cost on this shared 2-core machine. Runs are short on purpose.
#
# Knobs (environment):
#   DEVICES=10000 QUERIES=100000   records and query lines
#   DURATION=8 LAT_DURATION=4 LAT_QPS=20000 OUTSTANDING=200 CLIENTS=4
#   OURS_PORT=15353 KNOT_PORT=15354 COREDNS_PORT=15355
#   COREDNS=path   a CoreDNS binary to include (default: bench/bin/coredns,
#                  then coredns on PATH; skipped when there is none)
#   OUT=FILE       where to write the results; KEEP=1 keeps the work dir
#
# Needs dnsperf, knot (knotd), dig (bind9-dnsutils) and Go. All traffic
# stays on 127.0.0.1; every run is bounded by dnsperf -l and `timeout`.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
case $# in
0) ;;
*)
	if [[ $# == 1 && ($1 == -h || $1 == --help) ]]; then
		usage
		exit 0
	fi
	printf 'bench/dns.sh: unexpected argument %s; it takes none (see --help)\n' "$1" >&2
	exit 2
	;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEVICES=${DEVICES:-10000}
QUERIES=${QUERIES:-100000}
DURATION=${DURATION:-8}
LAT_DURATION=${LAT_DURATION:-4}
LAT_QPS=${LAT_QPS:-20000}
OUTSTANDING=${OUTSTANDING:-200}
CLIENTS=${CLIENTS:-4}
OURS_PORT=${OURS_PORT:-15353}
KNOT_PORT=${KNOT_PORT:-15354}
COREDNS_PORT=${COREDNS_PORT:-15355}
ZONE=lan.test
DATE=$(date -u +%Y-%m-%d)
OUT=${OUT:-$ROOT/bench/results/dns-$DATE.md}
CLK_TCK=$(getconf CLK_TCK)

for tool in dnsperf knotd dig go; do
	command -v "$tool" >/dev/null || {
		printf 'bench/dns.sh: %s not found: apt-get install dnsperf knot bind9-dnsutils (and Go)\n' "$tool" >&2
		exit 1
	}
done
COREDNS=${COREDNS:-}
if [[ -z $COREDNS && -x $ROOT/bench/bin/coredns ]]; then COREDNS=$ROOT/bench/bin/coredns; fi
if [[ -z $COREDNS ]] && command -v coredns >/dev/null; then COREDNS=$(command -v coredns); fi

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lantls-dnsbench.XXXXXX")
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ ${KEEP:-0} == 1 ]]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
step() { printf '\n==> %s\n' "$*"; }

step "Build lantls and dnszone"
(cd "$ROOT" && go build -o "$WORK/lantls" ./cmd/lantls && go build -o "$WORK/dnszone" ./bench/cmd/dnszone)

step "Seed $DEVICES devices; write the zone file and $QUERIES queries"
mkdir -m 0700 "$WORK/data"
"$WORK/dnszone" --data "$WORK/data" --zone $ZONE --devices "$DEVICES" --queries "$QUERIES" \
	--zonefile "$WORK/$ZONE.zone" --queryfile "$WORK/queries.txt"
wc -l <"$WORK/$ZONE.zone" | xargs printf '%s zone file lines\n'

# waitdns PORT NAME: wait up to 20 s for a server to answer NAME.
waitdns() {
	for _ in $(seq 200); do
		if dig @127.0.0.1 -p "$1" "$2" A +time=1 +tries=1 +short 2>/dev/null | grep -q .; then return 0; fi
		sleep 0.1
	done
	printf 'bench/dns.sh: nothing answers on 127.0.0.1:%s\n' "$1" >&2
	return 1
}
FIRST=$(awk '$2 == "A" && $1 !~ /^[0-9]/ {print $1; exit}' "$WORK/queries.txt")

step "Start lantls issuer (DNS on 127.0.0.1:$OURS_PORT, RRL off: dnsperf is one source)"
"$WORK/lantls" issuer --data "$WORK/data" --zone $ZONE --listen 127.0.0.1:0 --http-listen "" \
	--dns-listen 127.0.0.1:$OURS_PORT --dns-rrl off --log-level warn >"$WORK/ours.log" 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")
waitdns $OURS_PORT "$FIRST"

step "Start Knot DNS $(knotd --version | awk '{print $NF}') on 127.0.0.1:$KNOT_PORT"
mkdir -p "$WORK/knot"
cp "$WORK/$ZONE.zone" "$WORK/knot/"
cat >"$WORK/knot/knot.conf" <<CONF
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$KNOT_PORT
database:
    storage: "$WORK/knot/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$WORK/knot"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: $ZONE
    file: "$ZONE.zone"
CONF
knotd -c "$WORK/knot/knot.conf" >"$WORK/knot.log" 2>&1 &
KNOT_PID=$!
PIDS+=("$KNOT_PID")
waitdns $KNOT_PORT "$FIRST"

SERVERS=("lantls:$OURS_PORT:$OURS_PID" "knot:$KNOT_PORT:$KNOT_PID")
COREDNS_NOTE=""
if [[ -n $COREDNS ]]; then
	step "Start CoreDNS ($COREDNS) on 127.0.0.1:$COREDNS_PORT"
	mkdir -p "$WORK/coredns"
	printf '%s:%s {\n    bind 127.0.0.1\n    file %s\n}\n' "$ZONE" "$COREDNS_PORT" "$WORK/$ZONE.zone" >"$WORK/coredns/Corefile"
	(cd "$WORK/coredns" && exec "$COREDNS" -conf Corefile) >"$WORK/coredns.log" 2>&1 &
	COREDNS_PID=$!
	PIDS+=("$COREDNS_PID")
	waitdns $COREDNS_PORT "$FIRST"
	SERVERS+=("coredns:$COREDNS_PORT:$COREDNS_PID")
else
	COREDNS_NOTE="CoreDNS: not measured: no binary at bench/bin/coredns or on PATH (COREDNS=path adds one)."
fi

step "Same answers from every server"
mismatch=0
while read -r name type; do
	want=$(dig @127.0.0.1 -p $KNOT_PORT "$name" "$type" +norec +time=2 +tries=1 | awk '/status:/{print $6} /^[^;].*IN/{print $1,$4,$5}' | sort | tr -d ',')
	for s in "${SERVERS[@]}"; do
		IFS=: read -r sname sport _ <<<"$s"
		got=$(dig @127.0.0.1 -p "$sport" "$name" "$type" +norec +time=2 +tries=1 | awk '/status:/{print $6} /^[^;].*IN/{print $1,$4,$5}' | sort | tr -d ',')
		if [[ $got != "$want" ]]; then
			printf 'mismatch %s %s: %s says\n%s\nknot says\n%s\n' "$name" "$type" "$sname" "$got" "$want" >&2
			mismatch=1
		fi
	done
done < <(awk 'NR <= 40' "$WORK/queries.txt")
[[ $mismatch == 0 ]] || { echo "bench/dns.sh: the servers disagree (above)" >&2; exit 1; }
echo "40 queries: the same rcode and records from every server"

# cpu PID: the process's user+system CPU time in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A QPS LAT_AVG P50 P99 SRV_CPU PERF_CPU LOST
for s in "${SERVERS[@]}"; do
	IFS=: read -r sname sport spid <<<"$s"
	step "$sname: throughput, ${DURATION}s"
	before=$(cpu "$spid")
	/usr/bin/time -f '%U %S' -o "$WORK/$sname.time" timeout $((DURATION + 30)) \
		dnsperf -s 127.0.0.1 -p "$sport" -d "$WORK/queries.txt" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" \
		>"$WORK/$sname.perf" 2>&1
	after=$(cpu "$spid")
	QPS[$sname]=$(awk '/Queries per second:/{printf "%.0f", $4}' "$WORK/$sname.perf")
	LAT_AVG[$sname]=$(awk '/Average Latency/{printf "%.3f", $4*1000}' "$WORK/$sname.perf")
	LOST[$sname]=$(awk '/Queries lost:/{print $3}' "$WORK/$sname.perf")
	completed=$(awk '/Queries completed:/{print $3}' "$WORK/$sname.perf")
	SRV_CPU[$sname]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$completed" 'BEGIN{printf "%.2f", t/hz/n*1e5}')
	PERF_CPU[$sname]=$(awk -v n="$completed" '{printf "%.2f", ($1+$2)/n*1e5}' "$WORK/$sname.time")
	grep -E 'Queries (sent|completed|lost)|Response codes|per second|Average Latency' "$WORK/$sname.perf"

	step "$sname: latency at $LAT_QPS queries/s, ${LAT_DURATION}s"
	timeout $((LAT_DURATION + 30)) dnsperf -s 127.0.0.1 -p "$sport" -d "$WORK/queries.txt" -l "$LAT_DURATION" \
		-c "$CLIENTS" -q "$OUTSTANDING" -Q "$LAT_QPS" -v >"$WORK/$sname.lat" 2>&1
	# -v prints one line per answered query, its latency in seconds last.
	awk '$1 == ">" {print $NF}' "$WORK/$sname.lat" | sort -g >"$WORK/$sname.sorted"
	read -r P50[$sname] P99[$sname] < <(awk '{a[NR]=$1} END{printf "%.3f %.3f\n", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}' "$WORK/$sname.sorted")
	echo "p50 ${P50[$sname]} ms, p99 ${P99[$sname]} ms over $(wc -l <"$WORK/$sname.sorted") queries"
done

step "Results"
mkdir -p "$(dirname "$OUT")"
{
	echo "# DNS: lantls vs Knot DNS$([[ -n $COREDNS ]] && echo ' vs CoreDNS'), $DATE"
	echo
	echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr); shared with other work (load average $LOAD at the start), so runs are short and numbers move from run to run."
	echo "lantls $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?') ($(go version | awk '{print $3}')), Knot DNS $(knotd --version | awk '{print $NF}'), dnsperf $(dnsperf -h 2>&1 | awk '/^Version/{print $2}' || true)."
	echo
	echo "Command: \`bench/dns.sh\` (DEVICES=$DEVICES QUERIES=$QUERIES DURATION=$DURATION LAT_DURATION=$LAT_DURATION LAT_QPS=$LAT_QPS OUTSTANDING=$OUTSTANDING CLIENTS=$CLIENTS)."
	echo "Each server on 127.0.0.1 serves $DEVICES devices; dnsperf (one thread, $CLIENTS sockets, up to $OUTSTANDING queries in flight) sends the same $QUERIES-line query file to each in turn: 30% IPv4 address-names, 10% IPv6 address-names, 25% device names, 20% NXDOMAIN, 15% TXT. Knot and CoreDNS serve a zone file with every queried address-name listed; lantls derives address-names from the name. lantls runs with response rate limiting off (\`--dns-rrl off\`): every query comes from one address. Both servers run with their defaults otherwise (GOMAXPROCS and Knot's UDP workers = the core count); dnsperf competes with them for the 2 cores, and its own CPU is shown."
	echo
	echo "| server | queries/s | ratio to Knot | avg latency at max (ms) | p50 at $LAT_QPS/s (ms) | p99 at $LAT_QPS/s (ms) | server CPU s per 100k queries | dnsperf CPU s per 100k | lost |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for s in "${SERVERS[@]}"; do
		IFS=: read -r sname _ _ <<<"$s"
		ratio=$(awk -v a="${QPS[$sname]}" -v b="${QPS[knot]}" 'BEGIN{printf "%.2fx", a/b}')
		echo "| $sname | ${QPS[$sname]} | $ratio | ${LAT_AVG[$sname]} | ${P50[$sname]} | ${P99[$sname]} | ${SRV_CPU[$sname]} | ${PERF_CPU[$sname]} | ${LOST[$sname]} |"
	done
	echo
	[[ -n $COREDNS_NOTE ]] && echo "$COREDNS_NOTE" && echo
	echo "Target (issue 20): at least 0.5x Knot."
} >"$OUT"
cat "$OUT"
echo
echo "written to $OUT"
