"""The real server process speaks HTTP/2 (h2c with prior knowledge, and h2 over TLS via ALPN)
while HTTP/1.1 clients keep working, and it exits on SIGTERM."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import service_unavailable

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STOP_TIMEOUT = 5


def _serve(tmp_path: Path, **extra_env: str):
    port = _free_port()
    env = {
        **os.environ,
        "EMPORIUM_PORT": str(port),
        "VAR_DIR": str(tmp_path),
        "WEB_STOP_TIMEOUT": str(STOP_TIMEOUT),
        **extra_env,
    }
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "serve.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    process.kill()
    pytest.fail("the server did not start listening within 60 s")


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


def test_h2c_prior_knowledge_and_http11(tmp_path):
    process, port = _serve(tmp_path)
    try:
        with httpx.Client(http1=False, http2=True, base_url=f"http://127.0.0.1:{port}") as h2:
            response = h2.get("/health/live")
        assert response.status_code == 200
        assert response.http_version == "HTTP/2"
        assert response.headers["x-request-id"]

        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as h1:
            response = h1.get("/health/live")
        assert response.status_code == 200
        assert response.http_version == "HTTP/1.1"
    finally:
        _stop(process)


def test_h2_over_tls_via_alpn(tmp_path):
    if shutil.which("openssl") is None:
        service_unavailable("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    process, port = _serve(tmp_path, TLS_CERTIFICATE=str(cert), TLS_KEY=str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        with httpx.Client(http2=True, verify=trust) as client:
            response = client.get(f"https://127.0.0.1:{port}/health/live")
            assert response.status_code == 200
            assert response.http_version == "HTTP/2"
        with httpx.Client(http2=False, verify=trust) as client:
            assert client.get(f"https://127.0.0.1:{port}/health/live").http_version == "HTTP/1.1"
    finally:
        _stop(process)


def test_a_sigterm_while_workers_are_still_loading_stops_the_server(tmp_path):
    # The socket listens before the workers have loaded the application; a SIGTERM in that window
    # used to be lost by a worker, and the server then never exited.
    process, _ = _serve(tmp_path)
    try:
        os.killpg(process.pid, 15)
        process.wait(timeout=STOP_TIMEOUT + 20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
