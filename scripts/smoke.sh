#!/usr/bin/env bash
# Start the server exactly as `make run` does (embedded defaults: no service variables), then
# drive it over HTTP: health, the API root, and a task through the worker. Stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${EMPORIUM_PORT:-8000}"
BASE="http://127.0.0.1:${PORT}"
LOG="$(mktemp -t emporium-run.XXXXXX.log)"
STARTUP_TIMEOUT="${SMOKE_STARTUP_TIMEOUT:-300}"

unset DATABASE_URL REDIS_URL BROKER_URL MONGODB_URI EMAIL_URL EMPORIUM_ENV EMPORIUM_REQUIRE_SERVICES

setsid make run >"$LOG" 2>&1 &
RUN_PID=$!

stop() {
  kill -INT -- "-$RUN_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$RUN_PID" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL -- "-$RUN_PID" 2>/dev/null || true
}
fail() {
  echo "smoke: FAILED: $*" >&2
  echo "---- make run output ----" >&2
  tail -n 80 "$LOG" >&2
  stop
  exit 1
}
trap stop EXIT

started=$(date +%s)
until curl -fsS "$BASE/health/" >/dev/null 2>&1; do
  kill -0 "$RUN_PID" 2>/dev/null || fail "make run exited early"
  (($(date +%s) - started < STARTUP_TIMEOUT)) || fail "no healthy answer within ${STARTUP_TIMEOUT}s"
  sleep 1
done
echo "smoke: /health/ answered 200 after $(($(date +%s) - started))s"

health=$(curl -fsS "$BASE/health/")
grep -q '"status": "up"' <<<"$health" || fail "health is not up: $health"
curl -fsS "$BASE/health/live" >/dev/null || fail "/health/live"
curl -fsS "$BASE/health/ready" >/dev/null || fail "/health/ready"

headers=$(curl -fsS -D - -o /tmp/emporium-smoke-api.json -H "X-Request-ID: smoke-test-0001" "$BASE/api/v1/")
grep -qi '^x-request-id: smoke-test-0001' <<<"$headers" || fail "X-Request-ID not echoed"
grep -q '"slug":"default"' /tmp/emporium-smoke-api.json || fail "API root: $(cat /tmp/emporium-smoke-api.json)"
echo "smoke: /api/v1/ answered: $(cat /tmp/emporium-smoke-api.json)"

status=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/" -H "X-Tenant: default" -H "Host: localhost")
[[ "$status" == 200 ]] || fail "trusted X-Tenant from loopback got $status"

# A storefront's first steps: the seeded catalog, an anonymous cart, live availability.
json_field() { .venv/bin/python -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
products=$(curl -fsS "$BASE/api/v1/products/?in_stock=true&page_size=1")
product_id=$(json_field '["results"][0]["id"]' <<<"$products") || fail "no product listed: $products"
sku=$(json_field '["results"][0]["sku"]' <<<"$products")
added=$(curl -fsS -X POST "$BASE/api/v1/cart/items/" -H "Content-Type: application/json" \
  -d "{\"product\": \"$product_id\", \"quantity\": 2}") || fail "add to cart refused"
cart_token=$(json_field '["token"]' <<<"$added")
cart=$(curl -fsS "$BASE/api/v1/cart/" -H "X-Cart-Token: $cart_token")
[[ $(json_field '["lines"][0]["quantity"]' <<<"$cart") == 2 ]] || fail "cart: $cart"
availability=$(curl -fsS "$BASE/api/v1/inventory/availability/?skus=$sku")
grep -q "\"sku\":\"$sku\"" <<<"$availability" || fail "availability: $availability"
echo "smoke: added $sku to an anonymous cart (total $(json_field '["total"]' <<<"$cart"))"

# A task published from another process must be run by the worker that `make run` started.
token="smoke$(date +%s)"
.venv/bin/python manage.py shell -c "from emporium.core.tasks import ping; ping.delay('$token')"
for _ in $(seq 1 60); do
  if .venv/bin/python manage.py shell -c "
import sys
from django.core.cache import cache
from emporium.core.tasks import ping_cache_key
sys.exit(0 if cache.get(ping_cache_key('$token')) else 1)"; then
    echo "smoke: the worker ran a task"
    trap - EXIT
    stop
    echo "smoke: passed"
    exit 0
  fi
  sleep 1
done
fail "the worker did not run the ping task within 60s"
