#!/usr/bin/env bash
# The `mongo` process of `make run` (Procfile). When MONGODB_URI points at the embedded default
# (mongodb://127.0.0.1:27117, set by `make run` when it was unset) and nothing answers there yet,
# run SecantusDB on 127.0.0.1:27117 with its data in $VAR_DIR/mongo; otherwise (MongoDB
# configured, or `scripts/services.sh up mongo` already serving that port) start nothing.
# Either way the declared indexes are created (manage.py mongo_ensure_indexes), and the process
# stays in the foreground so honcho stops it (and the server) on Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EMBEDDED_URI=mongodb://127.0.0.1:27117
PORT=27117
DATA_DIR=${VAR_DIR:-$ROOT/var}/mongo
PY=$ROOT/.venv/bin/python
START_SECONDS=30

log() { printf 'mongo: %s\n' "$*" >&2; }
answers() { timeout 2 bash -c ": </dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }

ensure_indexes() { "$PY" "$ROOT/manage.py" mongo_ensure_indexes; }

if [[ ${MONGODB_URI:-} != "$EMBEDDED_URI" ]] || answers; then
  log "using the server at MONGODB_URI; not starting one"
  ensure_indexes
  exec sleep infinity
fi

mkdir -p "$DATA_DIR"
"$ROOT/.venv/bin/secantusd-py" --host 127.0.0.1 --port "$PORT" --storage-path "$DATA_DIR" &
server=$!
stop() {
  trap - INT TERM
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

start=$SECONDS
until answers; do
  kill -0 "$server" 2>/dev/null || { log "SecantusDB exited (is $DATA_DIR used by another server?)"; exit 1; }
  ((SECONDS - start < START_SECONDS)) || { log "SecantusDB did not start within ${START_SECONDS}s"; stop; }
  sleep 0.2
done
log "SecantusDB on 127.0.0.1:$PORT, data in $DATA_DIR"
ensure_indexes
wait "$server"
