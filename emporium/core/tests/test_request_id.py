"""Correlation ids: echoed, validated, bound to log lines, forwarded on outgoing calls."""

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from emporium.core.context import request_id_context
from emporium.core.http import http_client
from emporium.core.logging import build_formatter, get_logger


@pytest.fixture
def json_log():
    """Capture every log line as the JSON renderer prints it in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(build_formatter("json"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line]
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.mark.django_db
def test_given_request_id_is_echoed(client):
    response = client.get("/api/v1/", HTTP_X_REQUEST_ID="checkout-7f3a9c1e")
    assert response["X-Request-ID"] == "checkout-7f3a9c1e"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad", ["short", "has spaces in it", "x" * 200, "<script>alert(1)</script>", "ümlaut-123456"]
)
def test_malformed_request_id_is_replaced(client, bad):
    response = client.get("/api/v1/", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_request_id_is_generated_and_unique(client):
    first = client.get("/api/v1/")["X-Request-ID"]
    second = client.get("/api/v1/")["X-Request-ID"]
    assert first != second
    assert client.get("/health/live")["X-Request-ID"]


@pytest.mark.django_db
def test_request_id_is_on_every_log_line_of_the_request(client, json_log, settings):
    settings.ROOT_URLCONF = "tests.testapp.urls"
    client.post(
        "/test-api/notes/",
        {"slug": "x y"},
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-abc-12345",
    )
    lines = [line for line in json_log() if line.get("request_id") == "req-abc-12345"]
    events = {line["event"] for line in lines}
    assert "http_request" in events
    # Django's own stdlib warning for the 400 carries the id too.
    assert any(line["logger"] == "django.request" for line in lines)
    access = next(line for line in lines if line["event"] == "http_request")
    assert access["status"] == 400
    assert access["path"] == "/test-api/notes/"
    assert "tenant_id" in access


@pytest.mark.django_db
def test_health_success_is_not_logged_at_info(client, json_log):
    client.get("/health/live")
    access = [line for line in json_log() if line["event"] == "http_request"]
    assert access
    assert {line["level"] for line in access} == {"debug"}


def test_log_lines_outside_requests_have_no_request_id(json_log):
    get_logger("emporium.test").info("standalone", answer=42)
    line = next(line for line in json_log() if line["event"] == "standalone")
    assert line["answer"] == 42
    assert "request_id" not in line
    assert line["timestamp"].endswith("Z")


def test_console_format_is_readable():
    record = logging.LogRecord("emporium.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    with request_id_context("req-console-1"):
        text = build_formatter("console").format(record)
    assert "hello you" in text
    assert "request_id=req-console-1" in text


class _EchoHandler(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self):
        self.seen.append(self.headers.get("X-Request-ID"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_http_client_forwards_the_request_id():
    server = HTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with request_id_context("req-outgoing-1"), http_client(base_url=base) as client:
            assert client.get("/ping").status_code == 204
        with http_client(base_url=base, timeout=2) as client:
            client.get("/ping")
    finally:
        server.shutdown()
    assert _EchoHandler.seen == ["req-outgoing-1", None]
