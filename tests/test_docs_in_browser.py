"""The API docs and the admin in a real browser (headless Chromium) under the security headers.

Swagger UI (/api/docs/), ReDoc (/api/redoc/) and the admin login page must render with their
assets from /static/ and print no Content-Security-Policy violation or header error on the
console; a storefront page on another origin must be able to read a CORS-allowed API response,
while Cross-Origin-Resource-Policy still stops no-cors reads.

Chromium is Debian's `chromium` package (.ci/run installs it). Its console goes to stderr with
`--enable-logging=stderr`; `--virtual-time-budget` lets the page's scripts and fetches finish
before `--dump-dom` prints the resulting DOM. Host resolution is limited to loopback, so the
browser can never reach the internet.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass
from html import escape, unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import service_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=15000",
]
# Console lines that mean a policy blocked something or a security header did not parse.
POLICY_PROBLEM = re.compile(
    r"Content Security Policy|Refused to|Permissions-Policy|ERR_BLOCKED_BY", re.IGNORECASE
)
# ReDoc always shows a logo from cdn.redoc.ly; the CSP blocks it on purpose (no third-party
# requests from our pages) and ReDoc then hides the image. Nothing else may be blocked.
EXPECTED_BLOCKS = {"/api/redoc/": ("'https://cdn.redoc.ly/redoc/logo-mini.svg'",)}


@dataclass
class Page:
    dom: str
    console: list[str]


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        service_unavailable("chromium")
    return binary


@pytest.fixture
def browse(chromium, tmp_path):
    def load(url: str) -> Page:
        profile = tmp_path / f"profile-{uuid.uuid4().hex}"
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return Page(result.stdout, result.stderr.splitlines())

    return load


def _policy_problems(page: Page, path: str) -> list[str]:
    expected = EXPECTED_BLOCKS.get(path, ())
    return [
        line
        for line in page.console
        if POLICY_PROBLEM.search(line) and not any(url in line for url in expected)
    ]


def test_swagger_ui_renders_the_operations(browse, live_server):
    page = browse(f"{live_server.url}/api/docs/")

    assert _policy_problems(page, "/api/docs/") == []
    assert 'id="swagger-ui"' in page.dom
    # Operations appear only once the bundle ran, the start-up script ran and the schema loaded.
    assert 'class="opblock-summary-path" data-path="/api/v1/"' in page.dom
    assert "Emporium API" in page.dom


def test_redoc_renders_the_operations(browse, live_server):
    page = browse(f"{live_server.url}/api/redoc/")

    assert _policy_problems(page, "/api/redoc/") == []
    assert re.search(r"<h1 [^>]*>Emporium API", page.dom), "ReDoc did not render the schema"
    assert "API root" in page.dom
    assert ">/api/v1/</span>" in page.dom
    assert "Something went wrong" not in page.dom


def test_admin_login_renders(browse, live_server):
    page = browse(f"{live_server.url}/admin/login/")

    assert _policy_problems(page, "/admin/login/") == []
    assert 'id="login-form"' in page.dom
    # admin/js/theme.js (a /static/ script) ran: it marks the document with the colour theme.
    assert re.search(r'<html [^>]*data-theme="auto"', page.dom)


# --- CORS in a browser --------------------------------------------------------------------
STOREFRONT_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>storefront</title></head>
<body><pre id="result">pending</pre>
<script>
const api = "{api}";
const out = {{}};
Promise.allSettled([
  fetch(api, {{headers: {{"X-Request-ID": "storefront-check-0001"}}}}).then(async (r) => {{
    out.status = r.status;
    out.requestId = r.headers.get("X-Request-ID");
    out.body = await r.json();
  }}, (error) => {{ out.corsError = String(error); }}),
  fetch(api, {{mode: "no-cors"}}).then(() => {{ out.noCors = "loaded"; }},
                                       () => {{ out.noCors = "blocked"; }}),
]).then(() => {{ document.getElementById("result").textContent = JSON.stringify(out); }});
</script></body></html>
"""


@pytest.fixture
def storefront(live_server):
    """A page on another origin (its own port) that calls the live server's API."""
    body = STOREFRONT_PAGE.format(api=escape(f"{live_server.url}/api/v1/")).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # Same site as the live server (localhost), other origin (port): only CORP `same-origin`
    # blocks a no-cors load from here; `same-site` or `cross-origin` would let it through.
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cors_allowed_origin_reads_the_api_and_corp_blocks_no_cors_loads(
    browse, storefront, settings
):
    settings.CORS_ALLOWED_ORIGINS = [storefront]

    page = browse(f"{storefront}/")

    match = re.search(r'<pre id="result">(.*?)</pre>', page.dom, re.DOTALL)
    assert match, page.dom
    result = json.loads(unescape(match.group(1)))
    assert "corsError" not in result, page.console
    assert result["status"] == 200
    assert result["body"]["version"] == "v1"
    assert result["requestId"] == "storefront-check-0001"  # exposed to the other origin
    # Cross-Origin-Resource-Policy: same-origin stops the same response as a no-cors load.
    assert result["noCors"] == "blocked"
