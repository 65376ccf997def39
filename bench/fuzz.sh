#!/usr/bin/env bash
# bench/fuzz.sh: every Go fuzz target of the module, one after the other,
# each for FUZZTIME. scripts/test runs the same for a few seconds each; run
# this for longer on a quiet machine. A failure leaves its input under the
# package's testdata/fuzz/FuzzXxx, where plain `go test` replays it from then
# on; commit it with the fix.
#
# Usage: bench/fuzz.sh [--help]    (no arguments; knobs are variables)
#
# Knobs (environment):
#   FUZZTIME=2m     how long each target runs (a go test -fuzztime value)
#   MATCH=.         an extended regexp: only targets (pkg.FuzzName) it matches
#   PARALLEL=       fuzzing workers per target (default: GOMAXPROCS)
#
# Each run is bounded by -fuzztime and `timeout`; nothing leaves the machine.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
case $# in
0) ;;
*)
	if [[ $# == 1 && ($1 == -h || $1 == --help) ]]; then
		usage
		exit 0
	fi
	printf 'bench/fuzz.sh: unexpected argument %s; it takes none (see --help)\n' "$1" >&2
	exit 2
	;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZTIME=${FUZZTIME:-2m}
MATCH=${MATCH:-.}
cd "$ROOT"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Every package with a fuzz target, and its targets.
mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
parallel=()
[[ -z ${PARALLEL:-} ]] || parallel=(-parallel "$PARALLEL")
failed=()
n=0
for pkg in "${pkgs[@]}"; do
	mapfile -t targets < <(grep -h '^func Fuzz' "$pkg"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/' | sort -u)
	for target in "${targets[@]}"; do
		[[ "$pkg.$target" =~ $MATCH ]] || continue
		n=$((n + 1))
		printf '%s %s (%s)\n' "$pkg" "$target" "$FUZZTIME"
		# The timeout leaves room for building the instrumented binary.
		if ! timeout 20m go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" "${parallel[@]}" "$pkg" >"$log" 2>&1; then
			tail -30 "$log"
			failed+=("$pkg $target")
		fi
	done
done
echo "$n fuzz targets, ${#failed[@]} failed"
if ((${#failed[@]})); then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
