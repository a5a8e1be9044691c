#!/usr/bin/env bash
# Runs the deployment topology as local processes on loopback: redis-server for membership and three
# silos (node-a, node-b, node-c), each with its own data root and ports. node-a's gateway is 30000,
# so the CLI's default reaches the cluster; --redis 127.0.0.1:6390 finds every gateway.
#   bash deploy/local-cluster.sh start|stop|status
# State (logs, pids, data) lives in ./.local-cluster unless LOCAL_CLUSTER_DIR says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${LOCAL_CLUSTER_DIR:-$ROOT/.local-cluster}
REDIS_PORT=${REDIS_PORT:-6390}
NODES=(node-a node-b node-c)
SILO_PORTS=(11121 11122 11123)
GATEWAY_PORTS=(30000 30001 30002)
HTTP_PORTS=(8080 8081 8082)
CLUSTER_ID=${CLUSTER_ID:-sqlitepool}

silo_dll() { find "$ROOT/silo/SqlitePool.Silo/bin/Release" -name SqlitePool.Silo.dll 2>/dev/null | head -1; }
alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

start_silo() {
  local i=$1 node=${NODES[$1]}
  mkdir -p "$DIR/$node"
  (cd "$DIR/$node" && exec dotnet "$(silo_dll)" --node "$node" --data-root "$DIR/$node/data" \
      --silo-port "${SILO_PORTS[$i]}" --gateway-port "${GATEWAY_PORTS[$i]}" --http-port "${HTTP_PORTS[$i]}" --cluster-id "$CLUSTER_ID" \
      --redis "127.0.0.1:$REDIS_PORT" \
      --Silo:Membership:ProbeTimeout=00:00:02 --Silo:Membership:NumMissedProbesLimit=2 \
      --Silo:Membership:TableRefreshTimeout=00:00:02 >"$DIR/$node/silo.log" 2>&1) &
  echo $! >"$DIR/$node.pid"
}

wait_ready() {
  local node=$1
  for _ in $(seq 1 120); do
    grep -q " ready: data root " "$DIR/$node/silo.log" 2>/dev/null && return 0
    alive "$node" || { tail -20 "$DIR/$node/silo.log"; echo "$node exited"; return 1; }
    sleep 0.5
  done
  tail -20 "$DIR/$node/silo.log"; echo "$node did not become ready"; return 1
}

start() {
  command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)"; exit 1; }
  [ -n "$(silo_dll)" ] || dotnet build "$ROOT/silo/SqlitePool.Silo" -c Release -nologo -v q
  mkdir -p "$DIR/redis"
  if ! alive redis; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR/redis" >"$DIR/redis/redis.log" 2>&1 &
    echo $! >"$DIR/redis.pid"
    for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  for i in "${!NODES[@]}"; do alive "${NODES[$i]}" || start_silo "$i"; done
  for node in "${NODES[@]}"; do wait_ready "$node"; done
  status
}

stop() {
  for node in "${NODES[@]}" redis; do
    if alive "$node"; then
      local pid; pid=$(cat "$DIR/$node.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/$node.pid"
  done
  echo "stopped"
}

status() {
  local rc=0
  for i in "${!NODES[@]}"; do
    local node=${NODES[$i]}
    if alive "$node"; then echo "$node: running (pid $(cat "$DIR/$node.pid"), gateway ${GATEWAY_PORTS[$i]}, data $DIR/$node/data)"; else echo "$node: stopped"; rc=3; fi
  done
  if alive redis; then echo "redis: running (127.0.0.1:$REDIS_PORT)"; else echo "redis: stopped"; rc=3; fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status"; exit 2 ;;
esac
