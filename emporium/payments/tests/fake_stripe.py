"""A small Stripe-compatible HTTP server for tests: the real `stripe` client talks to it.

Implements `POST /v1/payment_intents` and `POST /v1/refunds` with form-encoded bodies as the
library sends them, honours `Idempotency-Key` (same key -> the same object back, as Stripe
does), and can fail the next N requests with a 500 (`fail_next(n)`) or refuse refunds with a
400 (`refuse_refunds`). Webhook payloads are signed as Stripe signs them (`sign`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

SECRET_KEY = "sk_test_emporium_fake"
WEBHOOK_SECRET = "whsec_emporium_test"


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[order_id]=x` -> {"metadata": {"order_id": "x"}} (Stripe's form encoding)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, dict[str, Any]] = {}
        self._failures = 0
        self.refuse_refunds = False
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail_next(self, count: int) -> None:
        """Answer the next `count` requests with a 500."""
        self._failures = count

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                params = unflatten(parse_qsl(body, keep_blank_values=True))
                key = self.headers.get("Idempotency-Key")
                with fake.lock:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "params": params,
                            "idempotency_key": key,
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                    if fake._failures > 0:
                        fake._failures -= 1
                        return self._send(500, {"error": {"type": "api_error", "message": "boom"}})
                    if key and key in fake._by_key:
                        return self._send(200, fake._by_key[key])
                    if self.path == "/v1/payment_intents":
                        status, obj = 200, fake._create_intent(params)
                    elif self.path == "/v1/refunds":
                        status, obj = fake._create_refund(params)
                    else:
                        status, obj = 404, {"error": {"type": "invalid_request_error"}}
                    if key and status == 200:
                        fake._by_key[key] = obj
                return self._send(status, obj)

            def _send(self, status: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = f"pi_{secrets.token_hex(8)}"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "currency": params["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "metadata": params.get("metadata", {}),
            "automatic_payment_methods": params.get("automatic_payment_methods"),
        }
        self.intents[intent_id] = intent
        return intent

    def _create_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.refuse_refunds:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "charge_already_refunded",
                    "message": "Charge has already been refunded.",
                }
            }
        refund = {
            "id": f"re_{secrets.token_hex(8)}",
            "object": "refund",
            "amount": int(params["amount"]),
            "currency": self.intents.get(params["payment_intent"], {}).get("currency", "eur"),
            "payment_intent": params["payment_intent"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
        }
        self.refunds[refund["id"]] = refund
        return 200, refund


@pytest.fixture
def fake_stripe(settings):
    """A running fake Stripe with the settings pointing at it."""
    fake = FakeStripe()
    fake.thread.start()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake.base_url
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    settings.STRIPE_TIMEOUT_SECONDS = 5
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send: t=<ts>,v1=<HMAC-SHA256 of "ts.payload">."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> str:
    """A webhook body as Stripe sends it."""
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "api_version": "2025-01-01",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "data": {"object": obj},
        }
    )
