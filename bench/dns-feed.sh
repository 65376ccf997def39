#!/usr/bin/env bash
# bench/dns-feed.sh: what one DNS change costs the issuer's DNS index with
# 10,000, 100,000 and 1,000,000 devices in its SQLite store: a change
# applied from the store's change feed (a device's address set, then the
# index's load), beside a load of the whole zone (what every change cost
# before the feed). Runs dnsserver's BenchmarkChange and writes
# bench/results/dns-feed-YYYY-MM-DD.md with the machine and its load.
#
# Usage: bench/dns-feed.sh [--help]    (no arguments)
#
# Knobs (environment): OUT=FILE, CHANGES=200 (changes timed per size),
# LOADS=3 (whole-zone loads timed per size).
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
case $# in
0) ;;
*)
	if [[ $# == 1 && ($1 == -h || $1 == --help) ]]; then
		usage
		exit 0
	fi
	printf 'bench/dns-feed.sh: unexpected argument %s; it takes none (see --help)\n' "$1" >&2
	exit 2
	;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results/dns-feed-$(date -u +%F).md}
CHANGES=${CHANGES:-200}
LOADS=${LOADS:-3}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lantls-dnsfeed.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cd "$ROOT"
echo "== changes through the feed ($CHANGES per size)" >&2
go test -run '^$' -bench 'BenchmarkChange/devices=.*/change' -benchtime "${CHANGES}x" -timeout 30m ./dnsserver | tee "$WORK/change.txt" >&2
echo "== whole-zone loads ($LOADS per size)" >&2
go test -run '^$' -bench 'BenchmarkChange/devices=.*/full-load' -benchtime "${LOADS}x" -timeout 30m ./dnsserver | tee "$WORK/full.txt" >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ms prints the ns/op of the benchmark line for $2 devices in file $1, in ms.
ms() { awk -v n="devices=$2/" '$1 ~ n { for (i = 1; i <= NF; i++) if ($(i+1) == "ns/op") printf "%.2f", $i / 1e6 }' "$1"; }

{
	echo "# The DNS index: one change with 10k, 100k and 1M devices"
	echo
	echo "Written by \`bench/dns-feed.sh\` on $(date -u '+%F %H:%M') UTC."
	echo
	echo "- $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); Linux $(uname -r); $(go version | cut -d' ' -f3-)"
	echo "- load average ${LOAD_BEFORE} before, ${LOAD_AFTER} after"
	echo "- lantls at commit $(git rev-parse --short HEAD), SQLite store"
	echo "- commands: \`go test -run '^\$' -bench 'BenchmarkChange/devices=.*/change' -benchtime ${CHANGES}x ./dnsserver\`, and \`/full-load\` with \`-benchtime ${LOADS}x\`"
	echo
	echo "A change is a device's new address written to the store and the"
	echo "DNS index's load that applies it from the change feed"
	echo "(\`store.DNSChanges\`); a whole-zone load is what every change cost"
	echo "before the feed (every active device read and indexed). Wall time per"
	echo "operation, on a shared machine: compare rows, not machines."
	echo
	echo "| devices | one change, ms | whole-zone load, ms |"
	echo "| ---: | ---: | ---: |"
	for n in 10000 100000 1000000; do
		printf '| %s | %s | %s |\n' "$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$n")" "$(ms "$WORK/change.txt" "$n")" "$(ms "$WORK/full.txt" "$n")"
	done
} >"$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
