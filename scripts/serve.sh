#!/usr/bin/env bash
# The web server, in development (`make run`) and production alike: granian serving the API.
# HTTP/1.1 and HTTP/2 on one port: h2 over TLS (ALPN) when TLS_CERTIFICATE and TLS_KEY are set,
# h2c with prior knowledge otherwise (for a TLS-terminating proxy in front).
# The API is synchronous Django, so it is served through WSGI on a pool of threads: measured here
# (bench/RESULTS.md) that is about 5x the throughput of the ASGI interface, whose thread hops
# cost several milliseconds a request. config/asgi.py stays for the streaming endpoints
# (WebSocket, Server-Sent Events) when they arrive.
set -euo pipefail
cd "$(dirname "$0")/.."

args=(
  --interface wsgi
  --host "${EMPORIUM_HOST:-127.0.0.1}"
  --port "${EMPORIUM_PORT:-8000}"
  --http auto
  --workers "${WEB_WORKERS:-1}"
  --blocking-threads "${WEB_THREADS:-4}"
)
if [[ -n "${TLS_CERTIFICATE:-}" ]]; then
  args+=(--ssl-certificate "$TLS_CERTIFICATE" --ssl-keyfile "${TLS_KEY:?set TLS_KEY (PKCS#8 PEM) with TLS_CERTIFICATE}")
fi
exec .venv/bin/granian "${args[@]}" config.wsgi:application
