#!/usr/bin/env bash
# cluster-scale.sh: smsfleet on a standalone Redis (the baseline) and on a
# Redis Cluster of 1 and of 3 masters, in one run, with the same load
# generator (issue 15). For each cluster size it
# starts cluster-enabled redis-servers (1 master: CLUSTER ADDSLOTSRANGE
# over every slot; 3: redis-cli --cluster create), `smsfleet all` with
# SMSFLEET_REDIS_MODE=cluster, and `smsfleet bench` (single sends, then one
# bulk message) with -redis naming every master, so it prints SMS/s and
# each master's Redis CPU per SMS. Runs by hand, not in CI.
#
#   N=20000 BULK_N=50000 bench/cluster-scale.sh
#
# Environment: N (10000), C (32), BULK_N (20000), SHARDS (8: asynq queues
# per lane, SMSFLEET_LANE_SHARDS), BASE_PORT (27700; it uses the ports
# from there to +12 and their cluster bus ports +10000), WORK (a new temp
# dir), SMSFLEET_BIN (default: go build ./cmd/smsfleet).
set -euo pipefail

N=${N:-10000}
C=${C:-32}
BULK_N=${BULK_N:-20000}
SHARDS=${SHARDS:-8}
BASE_PORT=${BASE_PORT:-27700}
WORK=${WORK:-$(mktemp -d /tmp/cluster-scale.XXXXXX)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK"
log() { printf '%s cluster-scale: %s\n' "$(date +%T)" "$*" >&2; }

command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	{ log "redis-server and redis-cli are needed (apt-get install redis-server redis-tools)"; exit 1; }
BIN=${SMSFLEET_BIN:-$WORK/smsfleet}
if [ -z "${SMSFLEET_BIN:-}" ]; then
	log "building smsfleet"
	(cd "$ROOT" && go build -o "$BIN" ./cmd/smsfleet)
fi

PIDS=()
stop_all() { # the fleet first (started last), then the Redis nodes
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	PIDS=()
}
trap stop_all EXIT

wait_port() { # port, what
	local i
	for i in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	log "$2 did not listen on $1 (logs in $WORK)"; exit 1
}

wait_cluster_ok() { # port
	local i
	for i in $(seq 1 200); do
		if redis-cli -p "$1" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then return 0; fi
		sleep 0.1
	done
	log "the cluster on $1 never became ok"; exit 1
}

run_size() { # masters (0: a standalone redis-server, the baseline)
	local masters=$1 dir=$WORK/masters-$1 addrs=() i port
	mkdir -p "$dir"
	if [ "$masters" = 0 ]; then
		redis-server --port "$BASE_PORT" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no --daemonize no \
			--loglevel warning >"$dir/node0.log" 2>&1 & PIDS+=($!)
		wait_port "$BASE_PORT" "redis-server"
		run_fleet "$masters" "127.0.0.1:$BASE_PORT" SMSFLEET_REDIS_MODE=standalone "SMSFLEET_REDIS_ADDR=127.0.0.1:$BASE_PORT"
		return
	fi
	for i in $(seq 0 $((masters - 1))); do
		port=$((BASE_PORT + i))
		mkdir -p "$dir/node$i"
		redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/node$i/nodes.conf" \
			--dir "$dir/node$i" --save '' --appendonly no --daemonize no --loglevel warning >"$dir/node$i.log" 2>&1 & PIDS+=($!)
		wait_port "$port" "redis-server $i"
		addrs+=("127.0.0.1:$port")
	done
	if [ "$masters" = 1 ]; then
		redis-cli -p "$BASE_PORT" cluster addslotsrange 0 16383 >/dev/null
	else
		redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1
	fi
	for i in $(seq 0 $((masters - 1))); do wait_cluster_ok $((BASE_PORT + i)); done
	local seeds
	seeds=$(IFS=,; echo "${addrs[*]}")
	run_fleet "$masters" "$seeds" SMSFLEET_REDIS_MODE=cluster "SMSFLEET_REDIS_ADDRS=$seeds" "SMSFLEET_LANE_SHARDS=$SHARDS"
}

run_fleet() { # masters, the nodes to measure, the fleet's Redis settings...
	local masters=$1 seeds=$2 dir=$WORK/masters-$1
	shift 2
	local http=$((BASE_PORT + 12))
	log "$masters master(s) (0: standalone): smsfleet all on $seeds ($*)"
	env "$@" SMSFLEET_HTTP_ADDR=127.0.0.1:$http SMSFLEET_APPLICATIONS='BENCH-00001:bench-server-token' \
		SMSFLEET_SIMULATOR=inprocess SMSFLEET_LOG_LEVEL=warn "$BIN" all >"$dir/smsfleet.log" 2>&1 & PIDS+=($!)
	wait_port "$http" "smsfleet all"
	local common=(-url "http://127.0.0.1:$http" -app BENCH-00001 -auth bench-server-token -redis "$seeds" -json)
	"$BIN" bench "${common[@]}" -n "$N" -c "$C" -prefix +4915150 >"$WORK/masters-$masters-single.json"
	"$BIN" bench "${common[@]}" -mode bulk -n "$BULK_N" -prefix +4915152 >"$WORK/masters-$masters-bulk.json"
	stop_all
}

run_size 0
run_size 1
run_size 3

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
print("| masters | mode | SMS/s at the provider | Redis round trips/SMS | Redis CPU µs/SMS (all masters) | per master: CPU µs/SMS |")
print("|---|---|---|---|---|---|")
for m in (0, 1, 3):
    for mode in ("single", "bulk"):
        r = json.load(open(f"{work}/masters-{m}-{mode}.json"))
        c = r.get("redis") or {}
        nodes = r.get("redis_nodes") or [c]
        per = ", ".join(f'{n["addr"].split(":")[-1]}: {n["cpu_us_per_sms"]:.1f}' for n in nodes)
        print(f'| {m or "standalone"} | {mode} | {r["end_to_end_per_sec"]:,.0f} | {c.get("round_trips_per_sms", 0):.2f} | {c.get("cpu_us_per_sms", 0):.1f} | {per} |')
print(f"\nJSON of each run: {work}")
PY
