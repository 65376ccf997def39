#!/usr/bin/env bash
# bench/hub.sh: does the issuer fit a router as a LAN hub?
#   1. lantls built as scripts/release builds it (CGO_ENABLED=0, -trimpath,
#      -ldflags="-s -w"): binary size for linux/amd64, arm64 and armv7.
#   2. `lantls issuer --hub` (the local signer, its DNS, a zone under
#      home.arpa; here on loopback ports given explicitly), N devices paired one after another through
#      RFC 8628 by real lantls-agent processes (bench/cmd/agentbench), each
#      getting its certificate and reporting its addresses; then every
#      device's name and address-name asked of its DNS with dig.
#   3. With the devices paired and the DNS answered, IDLE seconds of quiet:
#      the issuer's RSS (and its peak, VmHWM), its CPU time and its wake-ups
#      (context switches of all its threads) per second.
# Run twice: as --hub sets it (GOGC=100) and with GOGC=400, the setting
# of an issuer without --hub.
# Writes bench/results/hub-YYYY-MM-DD.md (OUT=FILE to change).
#
# Knobs: N=100 (devices), IDLE=30 (seconds), KEEP=1 (keep the work dir).
# Everything runs on 127.0.0.1; each step is bounded by `timeout`.
set -euo pipefail
case ${1:-} in
-h | --help)
	echo "Usage: bench/hub.sh    (knobs are environment variables)"
	echo
	sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "bench/hub.sh: unknown argument $1; it takes none (knobs are environment variables): run bench/hub.sh --help" >&2
	exit 2
	;;
esac
command -v dig >/dev/null || { echo "bench/hub.sh: dig not found: apt-get install bind9-dnsutils" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-100}
IDLE=${IDLE:-30}
ZONE=hub-bench.home.arpa
OUT=${OUT:-$ROOT/bench/results/hub-$(date -u +%F).md}
WORK=$(mktemp -d /tmp/lantls-hub-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ ${KEEP:-0} == 1 ]] && echo "work dir kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
echo "building into $WORK"
release() { CGO_ENABLED=0 GOOS=linux GOARCH=$1 GOARM=7 go build -trimpath -ldflags="-s -w -buildid=" -o "$2" "$3"; }
release amd64 "$WORK/lantls" ./cmd/lantls
release amd64 "$WORK/lantls-agent" ./cmd/lantls-agent
release arm64 "$WORK/lantls-arm64" ./cmd/lantls
release arm "$WORK/lantls-armv7" ./cmd/lantls
go build -o "$WORK/agentbench" ./bench/cmd/agentbench
size() { stat -c %s "$1"; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# status FIELD PID prints a field of /proc/PID/status in kB.
status() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status"; }
# switches PID sums the context switches of all the process's threads.
switches() { cat /proc/"$1"/task/*/status | awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s }'; }
# cputicks PID is utime + stime in clock ticks.
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run LABEL [env...]: one measured issuer; appends a result line.
run() {
	local label=$1 dir=$WORK/issuer-$1
	shift
	local https http
	https=$(freeport)
	http=$(freeport)
	env "$@" "$WORK/lantls" issuer --hub --data "$dir" --zone "$ZONE" \
		--listen "127.0.0.1:$https" --base-url "https://127.0.0.1:$https" \
		--http-listen "127.0.0.1:$http" --http-base-url "http://127.0.0.1:$http" --dns-listen 127.0.0.1:0 \
		--limit-pairings-per-source off --limit-accounts-per-source off --log-level warn \
		>"$WORK/$label.out" 2>"$WORK/$label.err" &
	local pid=$!
	PIDS+=("$pid")
	for _ in $(seq 300); do [[ -s $dir/issuer.json ]] && break; sleep 0.1; done
	local base dns
	base=$(sed -n 's/.*"base_url": *"\([^"]*\)".*/\1/p' "$dir/issuer.json")
	dns=$(sed -n 's/.*"dns": *"\([^"]*\)".*/\1/p' "$dir/issuer.json")
	local rss_empty
	rss_empty=$(status VmRSS "$pid")
	echo "[$label] issuer pid $pid at $base, DNS $dns; pairing $N devices"
	timeout 1200 "$WORK/agentbench" pairing --lantls "$WORK/lantls" --agent "$WORK/lantls-agent" \
		--issuer-data "$dir" --issuer "$base" --n "$N" --work "$WORK/agents-$label" >"$WORK/$label.pairing" 2>"$WORK/$label.pairing.log"
	"$WORK/lantls" admin --data "$dir" device list --json >"$WORK/$label.devices"
	local labels answered=0 asked=0 l
	labels=$(grep -o '"label": *"[a-z2-7]*"' "$WORK/$label.devices" | sed 's/.*"\([a-z2-7]*\)"$/\1/')
	for l in $labels; do
		for q in "$l.$ZONE" "127-0-0-1.$l.$ZONE"; do
			asked=$((asked + 1))
			if timeout 5 dig +short +time=2 +tries=1 -p "${dns##*:}" "@${dns%:*}" "$q" A | grep -q '^[0-9.]*$'; then
				answered=$((answered + 1))
			fi
		done
	done
	echo "[$label] DNS: $answered of $asked names answered with an address; idle for ${IDLE}s"
	sleep 5 # let the last pairing's work settle
	local sw0 t0 sw1 t1
	sw0=$(switches "$pid")
	t0=$(cputicks "$pid")
	sleep "$IDLE"
	sw1=$(switches "$pid")
	t1=$(cputicks "$pid")
	local hz
	hz=$(getconf CLK_TCK)
	printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$label" "$(grep -c '"label"' "$WORK/$label.devices")" "$answered/$asked" \
		"$rss_empty" "$(status VmRSS "$pid")" "$(status VmHWM "$pid")" \
		"$(awk -v a="$sw0" -v b="$sw1" -v s="$IDLE" 'BEGIN { printf "%.1f", (b - a) / s }')" \
		"$(awk -v a="$t0" -v b="$t1" -v s="$IDLE" -v hz="$hz" 'BEGIN { printf "%.2f", 100 * (b - a) / hz / s }')" >>"$WORK/results"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	cat "$WORK/$label.pairing"
}

run hub
run gogc400 GOGC=400
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$(dirname "$OUT")"
{
	echo "# hub: the issuer on a router's budget ($(date -u +%F))"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(go version | cut -d' ' -f3)."
	echo "Load average (1, 5, 15 min) at the start: $load_start; at the end: $load_end."
	echo "Command: \`bench/hub.sh\` (N=$N, IDLE=$IDLE), commit $(git rev-parse --short HEAD)."
	echo
	echo "The issuer: \`lantls issuer --hub\` (local signer, SQLite, its DNS), zone $ZONE,"
	echo "on loopback ports; $N devices paired"
	echo "one after another by real lantls-agent processes (RFC 8628, approved with"
	echo "\`lantls admin pair approve\`), each with its certificate and its reported"
	echo "addresses; then each device's name and its 127-0-0-1 address-name asked"
	echo "with dig. Measured after that, with ${IDLE}s of no traffic."
	echo
	echo "## Memory and idle cost (target: RSS <= 64 MB, idle CPU near zero)"
	echo
	echo "| run | devices | DNS answers | RSS at start | RSS with the devices, idle | peak RSS (VmHWM) | wake-ups/s idle | CPU idle |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
	while IFS='|' read -r label devs dnsok r0 r1 hwm wk cpu; do
		mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k * 1024 / 1e6 }'; }
		echo "| $label | $devs | $dnsok | $(mb "$r0") | $(mb "$r1") | $(mb "$hwm") | $wk | $cpu % |"
	done <"$WORK/results"
	echo
	echo "\"hub\" is \`--hub\` as it is, which sets GOGC=100 unless GOGC is set;"
	echo "\"gogc400\" is the same with GOGC=400, what \`lantls issuer\` sets without"
	echo "--hub (less CPU on collection under issuance load, more memory)."
	echo "Wake-ups are the context switches of all the issuer's threads; most come"
	echo "from its polling loops (the SQLite store checks for other processes'"
	echo "commits every 50 ms, the DNS index its change counter every 100 ms)."
	echo
	echo "## Binary size (CGO_ENABLED=0, -trimpath, -ldflags=\"-s -w\")"
	echo
	echo "| binary | target | bytes | MB |"
	echo "| --- | --- | --- | --- |"
	for b in "lantls linux/amd64 $WORK/lantls" "lantls linux/arm64 $WORK/lantls-arm64" "lantls linux/armv7 $WORK/lantls-armv7" "lantls-agent linux/amd64 $WORK/lantls-agent"; do
		read -r name target file <<<"$b"
		s=$(size "$file")
		echo "| $name | $target | $s | $(awk -v s="$s" 'BEGIN { printf "%.1f", s / 1e6 }') |"
	done
	echo
	echo "## Pairing (approve -> serving), for the record"
	echo
	echo '```'
	cat "$WORK/hub.pairing"
	echo '```'
} >"$OUT"
echo "wrote $OUT"
cat "$OUT"
