#!/usr/bin/env bash
# bench/proxy.sh: HTTPS reverse proxies side by side, in one run: the
# lantls agent in proxy mode, Caddy (Debian caddy, reverse_proxy) and
# nginx (Debian nginx, proxy_pass), each terminating TLS with the same
# certificate (the agent's, from the same issuer's CA) in front of the
# same upstream (a separate nginx answering a short fixed body).
# Measured with wrk (Debian wrk) on 127.0.0.1:
#   keep-alive: requests/s, p99 latency, RSS of the proxy after the run
#   handshakes: the same with "Connection: close", so every request is a
#               new connection with a full TLS handshake (wrk does not
#               resume sessions): full handshakes/s
# Writes bench/results/proxy-YYYY-MM-DD.md (OUT=FILE to change).
#
# Knobs: DURATION=8s CONNECTIONS=50 THREADS=1 KEEP=1 (keep the work dir).
# wrk, the proxy and the upstream share the machine's cores, and the
# load average before the run is recorded: compare the ratios, not the
# absolute numbers.
set -euo pipefail
case ${1:-} in
-h | --help)
	echo "Usage: bench/proxy.sh    (knobs are environment variables)"
	echo
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	echo "bench/proxy.sh: unknown argument $1; it takes none (knobs are environment variables): run bench/proxy.sh --help" >&2
	exit 2
	;;
esac
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for tool in wrk caddy nginx python3; do
	command -v "$tool" >/dev/null || { echo "bench/proxy.sh: $tool not installed: apt-get install ${tool/python3/python3}" >&2; exit 1; }
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
OUT=${OUT:-$ROOT/bench/results/proxy-$(date -u +%F).md}
WORK=$(mktemp -d /tmp/lantls-proxy-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ ${KEEP:-0} == 1 ]] && echo "work dir kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

cd "$ROOT"
echo "building into $WORK"
go build -o "$WORK/lantls" ./cmd/lantls
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$WORK/lantls-agent" ./cmd/lantls-agent

# The issuer, and one paired agent whose certificate all three serve.
"$WORK/lantls" issuer --data "$WORK/issuer" --zone lan.test --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --log-level warn \
	>"$WORK/issuer.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -s $WORK/issuer/issuer.json ]] && break; sleep 0.1; done
BASE=$(sed -n 's/.*"base_url": *"\([^"]*\)".*/\1/p' "$WORK/issuer/issuer.json")

# The upstream: nginx with one worker and a fixed body.
UP=$(port)
mkdir -p "$WORK/up" "$WORK/px"
cat >"$WORK/up/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/up/nginx.pid; error_log $WORK/up/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $WORK/up; proxy_temp_path $WORK/up; fastcgi_temp_path $WORK/up; uwsgi_temp_path $WORK/up; scgi_temp_path $WORK/up;
  server { listen 127.0.0.1:$UP; keepalive_requests 1000000; location / { default_type text/plain; return 200 "hello from the device\n"; } } }
CONF
nginx -c "$WORK/up/nginx.conf" -e "$WORK/up/error.log" &
PIDS+=($!)
waitport "$UP"

P_AGENT=$(port)
GOMEMLIMIT=${AGENT_GOMEMLIMIT:-} "$WORK/lantls-agent" --issuer "$BASE" --issuer-ca "$WORK/issuer/ca/root.pem" --data "$WORK/agent" \
	--proxy-to "http://127.0.0.1:$UP" --listen "127.0.0.1:$P_AGENT" --mdns=false --log-level warn >"$WORK/agent.out" 2>&1 &
AGENT_PID=$!
PIDS+=($AGENT_PID)
for _ in $(seq 100); do grep -qo '[B-Z]\{4\}-[B-Z]\{4\}' "$WORK/agent.out" && break; sleep 0.1; done
"$WORK/lantls" admin --data "$WORK/issuer" pair approve "$(grep -o '[B-Z]\{4\}-[B-Z]\{4\}' "$WORK/agent.out" | head -1)" --owner bench --new-owner >/dev/null
for _ in $(seq 100); do grep -q "serving certificate" "$WORK/agent.out" && break; sleep 0.1; done
CERT=$WORK/agent/chain.pem KEY=$WORK/agent/tls.key
NAME=127-0-0-1.$(sed -n 's/.*"label": *"\([^"]*\)".*/\1/p' "$WORK/agent/credentials.json").lan.test

P_CADDY=$(port)
cat >"$WORK/Caddyfile" <<CONF
{
	admin off
	auto_https off
	storage file_system $WORK/caddy
	log {
		output discard
	}
}
https://:$P_CADDY {
	bind 127.0.0.1
	tls $CERT $KEY
	reverse_proxy 127.0.0.1:$UP
}
CONF
HOME=$WORK caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.out" 2>&1 &
CADDY_PID=$!
PIDS+=($CADDY_PID)

P_NGINX=$(port)
cat >"$WORK/px/nginx.conf" <<CONF
daemon off; worker_processes 2; pid $WORK/px/nginx.pid; error_log $WORK/px/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $WORK/px; proxy_temp_path $WORK/px; fastcgi_temp_path $WORK/px; uwsgi_temp_path $WORK/px; scgi_temp_path $WORK/px;
  upstream device { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$P_NGINX ssl http2; ssl_certificate $CERT; ssl_certificate_key $KEY; keepalive_requests 1000000;
    location / { proxy_pass http://device; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr; proxy_set_header X-Forwarded-Proto https; } } }
CONF
nginx -c "$WORK/px/nginx.conf" -e "$WORK/px/error.log" &
NGINX_PID=$!
PIDS+=($NGINX_PID)
waitport "$P_AGENT"; waitport "$P_CADDY"; waitport "$P_NGINX"

# rss PID...: the summed VmRSS (kB) of the processes and their children.
rss() {
	local total=0 p
	for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
		total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo "$total"
}
# bench NAME PORT PIDS...: one keep-alive and one Connection: close run.
results=()
bench() {
	local name=$1 port=$2; shift 2
	local url="https://$NAME:$port/"
	curl -sf --cacert "$WORK/issuer/ca/root.pem" --resolve "$NAME:$port:127.0.0.1" "$url" >/dev/null ||
		{ echo "$name does not serve $url" >&2; exit 1; }
	echo "== $name keep-alive"
	timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "https://127.0.0.1:$port/" >"$WORK/$name-ka.txt"
	local mem; mem=$(rss "$@")
	echo "== $name handshakes"
	timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Connection: close" "https://127.0.0.1:$port/" >"$WORK/$name-hs.txt"
	local rps p99 hs
	rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$name-ka.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$WORK/$name-ka.txt")
	hs=$(awk '/Requests\/sec/ {print $2}' "$WORK/$name-hs.txt")
	echo "$name: $rps req/s, p99 $p99, RSS $mem kB, $hs handshakes/s"
	results+=("$name $rps $p99 $mem $hs")
}
bench lantls-agent "$P_AGENT" "$AGENT_PID"
bench caddy "$P_CADDY" "$CADDY_PID"
bench nginx "$P_NGINX" "$NGINX_PID"

ratio() { awk "BEGIN {printf \"%.2f\", $1 / $2}"; }
read -r _ a_rps a_p99 a_rss a_hs <<<"${results[0]}"
read -r _ c_rps c_p99 c_rss c_hs <<<"${results[1]}"
read -r _ n_rps n_p99 n_rss n_hs <<<"${results[2]}"
mkdir -p "$(dirname "$OUT")"
{
	echo "# HTTPS reverse proxy: lantls-agent vs Caddy vs nginx ($(date -u +%F))"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(go version | cut -d' ' -f3),"
	echo "$(caddy version | cut -d' ' -f1 | sed 's/^/Caddy /'), $(nginx -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)."
	echo "The $(nproc) cores are shared by wrk, the proxy under test and the upstream nginx;"
	echo "load average before the run: $load_before. One run each, so read the ratios"
	echo "(measured in the same run) rather than the absolute numbers."
	echo
	echo "Command: \`bench/proxy.sh\` (wrk -t$THREADS -c$CONNECTIONS -d$DURATION; handshakes with \`Connection: close\`)."
	echo "Each proxy serves the same certificate (ECDSA P-256, from the issuer's CA) in"
	echo "front of the same upstream (nginx, one worker, fixed 22-byte body);"
	echo "lantls-agent and Caddy are Go (GOMAXPROCS 2), nginx runs 2 workers."
	echo "RSS is taken right after the keep-alive run (nginx: master and workers summed)."
	echo
	echo "| proxy | keep-alive req/s | p99 | RSS (kB) | full handshakes/s |"
	echo "| --- | --- | --- | --- | --- |"
	for r in "${results[@]}"; do
		read -r name rps p99 mem hs <<<"$r"
		echo "| $name | $rps | $p99 | $mem | $hs |"
	done
	echo
	echo "| ratio | req/s | RSS | handshakes/s |"
	echo "| --- | --- | --- | --- |"
	echo "| lantls-agent / Caddy | $(ratio "$a_rps" "$c_rps") | $(ratio "$a_rss" "$c_rss") | $(ratio "$a_hs" "$c_hs") |"
	echo "| lantls-agent / nginx | $(ratio "$a_rps" "$n_rps") | $(ratio "$a_rss" "$n_rss") | $(ratio "$a_hs" "$n_hs") |"
	echo
	echo "Target (issue 21): ahead of Caddy on requests/s and handshakes/s at under half its RSS."
	echo
	echo "<details><summary>wrk output</summary>"
	echo
	for f in "$WORK"/*-ka.txt "$WORK"/*-hs.txt; do echo "$(basename "$f")"; echo '```'; cat "$f"; echo '```'; done
	echo "</details>"
} >"$OUT"
echo "wrote $OUT"
