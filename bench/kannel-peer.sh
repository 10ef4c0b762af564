#!/usr/bin/env bash
# kannel-peer.sh: smsfleet's throughput against Kannel's on this machine, in
# one run, with the same load generator (`smsfleet bench`) at the same
# concurrency (issue 14). Runs by hand, not in CI; needs root (or sudo) only
# to install Kannel from Debian when it is missing.
#
#   bench/kannel-peer.sh                 # N=2000 C=32
#   N=20000 C=32 BULK_N=100000 bench/kannel-peer.sh
#
# Each peer runs as a user would run it:
#   Kannel memory   bearerbox + smsbox + the fake SMSC, no message store
#   Kannel spool    the same with store-type = spool (durable)
#   smsfleet memory `smsfleet all` (in-process simulator) on its own
#                   redis-server without persistence
#   smsfleet AOF    the same on a redis-server with appendfsync everysec
# Single sends: N single-recipient requests from C clients, devices
# registered first; an SMS counts when it reaches the provider (Kannel: the
# fake SMSC's log; smsfleet: the simulator). With BULK_N > 0 it also sends one
# message to BULK_N devices (and OTPS OTPs one at a time meanwhile) to the
# memory fleet. It prints a table and the ratios to Kannel; the JSON of each
# run stays in $WORK.
#
# Environment: N (2000), C (32), BULK_N (0: no bulk run), OTPS (200),
# BASE_PORT (23000; it uses the 20 ports from there), WORK (a new temp dir),
# SMSFLEET_BIN (default: go build ./cmd/smsfleet). Logs and JSON stay in $WORK.
set -euo pipefail

N=${N:-2000}
C=${C:-32}
BULK_N=${BULK_N:-0}
OTPS=${OTPS:-200}
BASE_PORT=${BASE_PORT:-23000}
WORK=${WORK:-$(mktemp -d /tmp/kannel-peer.XXXXXX)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FAKESMSC=/usr/lib/kannel/test/fakesmsc
mkdir -p "$WORK"

log() { printf '%s kannel-peer: %s\n' "$(date +%T)" "$*" >&2; }

# --- prerequisites -----------------------------------------------------------
BEARERBOX=/usr/sbin/bearerbox SMSBOX=/usr/sbin/smsbox
if [ ! -x "$BEARERBOX" ] || [ ! -x "$SMSBOX" ] || [ ! -x "$FAKESMSC" ]; then
	log "installing Kannel from Debian (kannel, kannel-extras)"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends kannel kannel-extras
fi
[ -x "$FAKESMSC" ] || { log "no $FAKESMSC after installing kannel-extras (dpkg -L kannel-extras | grep fakesmsc)"; exit 1; }
command -v redis-server >/dev/null || { log "redis-server is needed (apt-get install redis-server)"; exit 1; }
command -v python3 >/dev/null || { log "python3 is needed to print the ratios"; exit 1; }
BIN=${SMSFLEET_BIN:-$WORK/smsfleet}
if [ -z "${SMSFLEET_BIN:-}" ]; then
	log "building smsfleet"
	(cd "$ROOT" && go build -o "$BIN" ./cmd/smsfleet)
fi

# --- process bookkeeping: only what this script started is stopped ----------
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
trap stop_all EXIT

wait_port() { # host:port, what
	local i
	for i in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	log "$2 did not listen on $1 (logs in $WORK)"; exit 1
}

# --- Kannel ------------------------------------------------------------------
ADMIN=$((BASE_PORT)); BOX=$((BASE_PORT + 1)); SMSC=$((BASE_PORT + 2)); SENDSMS=$((BASE_PORT + 3))

kannel_conf() { # dir, store lines
	cat >"$1/kannel.conf" <<EOF
group = core
admin-port = $ADMIN
admin-password = bench
smsbox-port = $BOX
box-allow-ip = 127.0.0.1
log-file = $1/bearerbox.log
log-level = 2
$2

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = $SMSC
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $BOX
sendsms-port = $SENDSMS
log-file = $1/smsbox.log
log-level = 2

group = sendsms-user
username = bench
password = bench

group = sms-service
keyword = default
text = "no service"
EOF
}

run_kannel() { # name, store lines
	local dir=$WORK/$1
	mkdir -p "$dir/spool" # the spool store's directory (unused in memory)
	kannel_conf "$dir" "$2"
	log "$1: starting bearerbox, smsbox and the fake SMSC"
	# -v 2: warnings and up on the console, as in the log files; the fake
	# SMSC stays at its default (debug), which writes the "Got message" line
	# the bench counts.
	"$BEARERBOX" -v 2 "$dir/kannel.conf" >"$dir/bearerbox.out" 2>&1 & PIDS+=($!)
	wait_port 127.0.0.1:$BOX bearerbox
	"$SMSBOX" -v 2 "$dir/kannel.conf" >"$dir/smsbox.out" 2>&1 & PIDS+=($!)
	"$FAKESMSC" -H 127.0.0.1 -r $SMSC -m 0 "123 345 text nop" >"$dir/fakesmsc.out" 2>"$dir/fakesmsc.log" & PIDS+=($!)
	wait_port 127.0.0.1:$SENDSMS smsbox
	sleep 1 # the fake SMSC's connection to bearerbox
	log "$1: bench, N=$N C=$C"
	"$BIN" bench -target kannel -url http://127.0.0.1:$SENDSMS -auth bench:bench -kannel-log "$dir/fakesmsc.log" \
		-n "$N" -c "$C" -prefix +4915130 -json >"$WORK/$1.json"
	stop_all
}

run_kannel kannel-memory ""
run_kannel kannel-spool "store-type = spool
store-location = $WORK/kannel-spool/spool"

# --- smsfleet ----------------------------------------------------------------
REDIS=$((BASE_PORT + 10)); HTTP=$((BASE_PORT + 11))
APP=BENCH-00001 TOKEN=bench-server-token

run_smsfleet() { # name, redis persistence flags, then bench runs as "mode prefix n"...
	local name=$1 persist=$2 dir=$WORK/$1
	shift 2
	mkdir -p "$dir"
	log "$name: starting redis-server ($persist) and smsfleet all"
	# shellcheck disable=SC2086
	redis-server --port $REDIS --bind 127.0.0.1 --dir "$dir" --save '' $persist >"$dir/redis.log" 2>&1 & PIDS+=($!)
	wait_port 127.0.0.1:$REDIS redis-server
	SMSFLEET_REDIS_ADDR=127.0.0.1:$REDIS SMSFLEET_HTTP_ADDR=127.0.0.1:$HTTP SMSFLEET_APPLICATIONS="$APP:$TOKEN" \
		SMSFLEET_SIMULATOR=inprocess SMSFLEET_LOG_LEVEL=warn \
		"$BIN" all >"$dir/smsfleet.log" 2>&1 & PIDS+=($!)
	wait_port 127.0.0.1:$HTTP "smsfleet all"
	local run mode prefix n
	for run in "$@"; do
		read -r mode prefix n <<<"$run"
		log "$name: bench -mode $mode, N=$n C=$C"
		"$BIN" bench -url http://127.0.0.1:$HTTP -app $APP -auth $TOKEN -redis 127.0.0.1:$REDIS \
			-mode "$mode" -n "$n" -c "$C" -otps "$OTPS" -prefix "$prefix" -json >"$WORK/$name-$mode.json"
	done
	stop_all
}

MEMORY_RUNS=("single +4915131 $N")
if [ "$BULK_N" -gt 0 ]; then
	MEMORY_RUNS+=("bulk +4915132 $BULK_N" "otp-under-bulk +4915133 $BULK_N")
fi
run_smsfleet smsfleet-memory "--appendonly no" "${MEMORY_RUNS[@]}"
run_smsfleet smsfleet-aof "--appendonly yes --appendfsync everysec" "single +4915134 $N"

# --- report ------------------------------------------------------------------
python3 - "$WORK" "$N" "$C" <<'EOF'
import json, os, sys
work, n, c = sys.argv[1], sys.argv[2], sys.argv[3]
def load(name):
    p = os.path.join(work, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
km, ks = load("kannel-memory"), load("kannel-spool")
rows = [("Kannel, in memory", km, km), ("Kannel, spool store (durable)", ks, ks),
        ("smsfleet, Redis without persistence", load("smsfleet-memory-single"), km),
        ("smsfleet, Redis AOF everysec", load("smsfleet-aof-single"), ks)]
def ratio(a, b):
    return "%.2f" % (a / b) if b else "-"
print(f"\nSingle sends: N={n}, C={c}; one run, noisy if the machine is busy")
print("| | accepted/s | reached the provider/s | arrived | ratio to Kannel (accepted, end to end) | Redis round trips/SMS | Redis CPU µs/SMS |")
print("|---|---|---|---|---|---|---|")
for label, r, peer in rows:
    if not r:
        continue
    red = r.get("redis") or {}
    print(f"| {label} | {r['accepted_per_sec']:,.0f} | {r['end_to_end_per_sec']:,.0f} | {r['arrived']}/{r['n']} "
          f"| {ratio(r['accepted_per_sec'], peer['accepted_per_sec'])}, {ratio(r['end_to_end_per_sec'], peer['end_to_end_per_sec'])} "
          f"| {red.get('round_trips_per_sms', '-')} | {red.get('cpu_us_per_sms', '-')} |")
sm = load("smsfleet-memory-single")
if sm and ks:
    print(f"\nsmsfleet memory vs Kannel spool: accepted {ratio(sm['accepted_per_sec'], ks['accepted_per_sec'])}, end to end {ratio(sm['end_to_end_per_sec'], ks['end_to_end_per_sec'])}")
b, o = load("smsfleet-memory-bulk"), load("smsfleet-memory-otp-under-bulk")
if b:
    red = b.get("redis") or {}
    print(f"\nBulk: one message to {b['n']} devices accepted in {b['accept_seconds']:.2f} s, reached the provider at {b['end_to_end_per_sec']:,.0f} SMS/s "
          f"({ratio(b['end_to_end_per_sec'], km['end_to_end_per_sec'])}x Kannel in memory); Redis {red.get('round_trips_per_sms', '-')} round trips, "
          f"{red.get('cpu_us_per_sms', '-')} µs CPU, {red.get('commands_per_sms', '-')} commands per SMS")
if o and o.get("otp"):
    ot = o["otp"]["api_to_provider_ms"]
    print(f"OTPs during a {o['n']}-SMS bulk: {o['otp']['arrived']}/{o['otp']['sent']} arrived, API→provider p50 {ot['p50']} ms, p99 {ot['p99']} ms")
print(f"\nJSON of each run: {work}")
EOF
