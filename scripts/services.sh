#!/usr/bin/env bash
# Local PostgreSQL 15, Redis 7, RabbitMQ 3.10 and a MongoDB-compatible server (SecantusDB, from
# .venv, in-memory) for development and CI, bound to 127.0.0.1 only.
#
#   scripts/services.sh install            # apt-get the packages (root)
#   eval "$(scripts/services.sh up)"       # start everything and export the connection URLs
#   scripts/services.sh down redis         # stop one service
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REDIS_DIR=$ROOT/var/services/redis
MONGO_DIR=$ROOT/var/services/mongo
MONGO_PIDFILE=$MONGO_DIR/secantus.pid
MONGO_LOG=$MONGO_DIR/secantus.log
PG_VERSION=15
PG_CLUSTER=main
PG_LOG=/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log
RABBIT_NODE=rabbit@$(hostname -s)
RABBIT_LOG=/var/log/rabbitmq/$RABBIT_NODE.log
RABBIT_PIDFILE=/var/lib/rabbitmq/mnesia/$RABBIT_NODE.pid
PACKAGES=(postgresql redis-server rabbitmq-server)
SERVICES=(postgres redis rabbitmq mongo)
declare -A URLS=(
  [postgres]=DATABASE_URL=postgresql://app:app@127.0.0.1:5432/app
  [redis]=REDIS_URL=redis://127.0.0.1:6379/0
  [rabbitmq]=BROKER_URL=amqp://guest:guest@127.0.0.1:5672//
  [mongo]="MONGODB_URI=mongodb://127.0.0.1:27117 MONGODB_DB=emporium"
)
declare -A PORTS=([postgres]=5432 [redis]=6379 [rabbitmq]="5672 4369 25672" [mongo]=27117)

# Read by epmd, rabbitmq-server and rabbitmqctl: the Debian wrappers switch to the rabbitmq user
# with a non-login su, which keeps the environment. The CLI's own Erlang node listens too.
export ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

usage() {
  cat <<EOF
Usage: scripts/services.sh COMMAND [postgres|redis|rabbitmq|mongo ...]

Local PostgreSQL, Redis, RabbitMQ and SecantusDB (MongoDB wire protocol, in-memory, from .venv)
listening on 127.0.0.1 only (default: all four).

  install   apt-get install the missing packages (root)
  up        start the services, wait until they accept connections, print the exports
            (eval "\$(scripts/services.sh up)"; progress goes to stderr)
  down      stop the services
  status    print up/down for each service
  env       print the exports only
  help      show this help
EOF
}

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
  [[ $EUID -eq 0 ]] || die "$1 is managed as root (its tools switch users): sudo scripts/services.sh $CMD"
}

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

tcp_open() { timeout 2 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_for NAME SECONDS LOGFILE CHECK...: poll CHECK until it succeeds or SECONDS have passed.
wait_for() {
  local name=$1 limit=$2 logfile=$3 start=$SECONDS
  shift 3
  until "$@"; do
    if ((SECONDS - start >= limit)); then
      log "error: $name did not accept connections on 127.0.0.1 within ${limit}s; tail of $logfile:"
      tail -n 20 "$logfile" >&2 || true
      exit 1
    fi
    sleep 1
  done
  log "$name: up ($((SECONDS - start))s)"
}

ready_postgres() { pg_isready -q -h 127.0.0.1 -p 5432; }
pg_running() { pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1; }

pg_create_app() {
  # psql runs as postgres, which may not be able to enter the caller's directory.
  (cd / && su postgres -c "psql -X -q -v ON_ERROR_STOP=1") <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app; END IF;
END $$;
-- SUPERUSER because the test runner creates and drops its own test database.
ALTER ROLE app LOGIN SUPERUSER PASSWORD 'app';
SELECT 'CREATE DATABASE app OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')
\gexec
SQL
}

up_postgres() {
  need_root postgres
  [[ -d /etc/postgresql/$PG_VERSION/$PG_CLUSTER ]] ||
    die "no PostgreSQL cluster $PG_VERSION/$PG_CLUSTER (run: scripts/services.sh install)"
  # On the command line, so a wider listen_addresses in postgresql.conf cannot expose it.
  pg_running || pg_ctlcluster -o "-c listen_addresses=127.0.0.1" "$PG_VERSION" "$PG_CLUSTER" start
  wait_for postgres 30 "$PG_LOG" ready_postgres
  pg_create_app
}

down_postgres() {
  need_root postgres
  if pg_running; then pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop; else log "postgres: not running"; fi
}

ready_redis() { [[ $(timeout 2 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]; }

up_redis() {
  mkdir -p "$REDIS_DIR"
  ready_redis || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$REDIS_DIR" \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  wait_for redis 15 "$REDIS_DIR/redis.log" ready_redis
}

down_redis() {
  if ready_redis; then redis-cli -h 127.0.0.1 -p 6379 shutdown nosave; else log "redis: not running"; fi
}

ready_mongo() { tcp_open 27117; }

up_mongo() {
  local server=$ROOT/.venv/bin/secantusd-py
  mkdir -p "$MONGO_DIR"
  if ! ready_mongo; then
    [[ -x $server ]] || make -C "$ROOT" install
    # Its own session, so it outlives this script; in-memory: every `up` starts empty.
    setsid "$server" --host 127.0.0.1 --port 27117 --storage-path :memory: \
      >"$MONGO_LOG" 2>&1 </dev/null &
    echo $! >"$MONGO_PIDFILE"
  fi
  wait_for mongo 30 "$MONGO_LOG" ready_mongo
}

down_mongo() {
  local pid start=$SECONDS
  if [[ -f $MONGO_PIDFILE ]] && pid=$(<"$MONGO_PIDFILE") && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    # SecantusDB takes about 4 s to shut down.
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS - start >= 20)); then kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.5
    done
    rm -f "$MONGO_PIDFILE"
  else
    rm -f "$MONGO_PIDFILE"
    if ready_mongo; then log "mongo: 27117 is served by a process this script did not start"; else log "mongo: not running"; fi
  fi
}

ready_rabbitmq() { tcp_open 5672; }
epmd_running() { epmd -names >/dev/null 2>&1; }
# Registered with epmd means the node exists, even while it is still booting.
rabbit_registered() { [[ $(epmd -names 2>/dev/null) == *"name rabbit "* ]]; }

up_rabbitmq() {
  need_root rabbitmq
  if ! rabbit_registered; then
    epmd -daemon
    rabbitmq-server -detached
  fi
  # The broker opens 5672 last, typically 10-25 s after the start.
  wait_for rabbitmq 90 "$RABBIT_LOG" ready_rabbitmq
}

down_rabbitmq() {
  need_root rabbitmq
  local pidfile=()
  if rabbit_registered; then
    # Given the pid file, stop waits until the VM has exited, so `up` can follow at once;
    # given a missing one, it would wait forever for the file to appear.
    [[ -f $RABBIT_PIDFILE ]] && pidfile=("$RABBIT_PIDFILE")
    rabbitmqctl -q stop "${pidfile[@]}"
  else
    log "rabbitmq: not running"
  fi
  if epmd_running; then epmd -kill >/dev/null; fi
}

# A daemon started elsewhere (e.g. by the package's init script) may listen on every interface.
check_loopback() {
  local svc ports="" exposed
  command -v ss >/dev/null || { log "warning: ss not found, listeners not checked"; return 0; }
  for svc; do ports+="${ports:+ }${PORTS[$svc]}"; done
  exposed=$(ss -Hltn | awk '{print $4}' | grep -E ":(${ports// /|})\$" |
    grep -Ev '^(127\.|\[::1\]|\[::ffff:127\.)' || true)
  [[ -z $exposed ]] || die "listening beyond loopback, stop that daemon first: ${exposed//$'\n'/ }"
}

cmd_install() {
  local pkg missing=()
  for pkg in "${PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
  if ((${#missing[@]} == 0)); then
    log "already installed: ${PACKAGES[*]}"
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "missing packages: ${missing[*]}; run as root: sudo scripts/services.sh install"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

cmd_up() {
  local svc
  for svc; do "up_$svc" >&2; done
  check_loopback "$@"
  cmd_env "$@"
}

cmd_down() {
  local svc
  for svc; do "down_$svc" >&2; done
}

cmd_status() {
  local svc
  for svc; do
    if "ready_$svc"; then echo "$svc: up"; else echo "$svc: down"; fi
  done
}

cmd_env() {
  local svc
  for svc; do echo "export ${URLS[$svc]}"; done
}

main() {
  CMD=${1:-help}
  [[ $# -eq 0 ]] || shift
  local svc
  for svc; do
    [[ -v "URLS[$svc]" ]] || die "unknown service: $svc (known: ${SERVICES[*]})"
  done
  (($#)) || set -- "${SERVICES[@]}"
  case $CMD in
    install) cmd_install ;;
    up | down | status | env) "cmd_$CMD" "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; die "unknown command: $CMD" ;;
  esac
}

main "$@"
