#!/usr/bin/env bash
# The web server, in development (`make run`) and production alike: granian serving the API.
# HTTP/1.1 and HTTP/2 on one port: h2 over TLS (ALPN) when TLS_CERTIFICATE and TLS_KEY are set,
# h2c with prior knowledge otherwise (for a TLS-terminating proxy in front).
# The API is synchronous Django, so it is served through WSGI on a pool of threads: measured here
# (bench/RESULTS.md) that is about 5x the throughput of the ASGI interface, whose thread hops
# cost several milliseconds a request. config/asgi.py stays for the streaming endpoints
# (WebSocket, Server-Sent Events) when they arrive.
# One process per core with two threads each: one process with more threads serves the same
# load on one core at a time (the GIL), and under load some of its requests wait seconds for it
# (bench/RESULTS.md: /health/live p99 up to 5 s with 1 x 4, 11-131 ms with 2 x 2).
# A worker that does not stop within WEB_STOP_TIMEOUT seconds of SIGTERM is killed: granian loses
# a SIGTERM that reaches a worker while it is still loading the application, and without a bound
# the server then never exits. The default stays below the usual 30 s grace of orchestrators, so
# requests in flight get their time and the process still exits before it is killed from outside.
set -euo pipefail
cd "$(dirname "$0")/.."

args=(
  --interface wsgi
  --host "${EMPORIUM_HOST:-127.0.0.1}"
  --port "${EMPORIUM_PORT:-8000}"
  --http auto
  --workers "${WEB_WORKERS:-$(nproc)}"
  --blocking-threads "${WEB_THREADS:-2}"
  --workers-kill-timeout "${WEB_STOP_TIMEOUT:-25}"
)
if [[ -n "${TLS_CERTIFICATE:-}" ]]; then
  args+=(--ssl-certificate "$TLS_CERTIFICATE" --ssl-keyfile "${TLS_KEY:?set TLS_KEY (PKCS#8 PEM) with TLS_CERTIFICATE}")
fi
exec .venv/bin/granian "${args[@]}" config.wsgi:application
