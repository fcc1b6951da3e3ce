"""A real MongoDB-compatible server for the review tests: the one in MONGODB_URI (CI), else a
SecantusDB started here on a free loopback port with in-memory storage."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from conftest import service_unavailable

STARTUP_SECONDS = 30


def _answers(uri: str) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mongo_server_uri(tmp_path_factory) -> Iterator[str]:
    """The URI of a running server for this test session."""
    configured = os.environ.get("MONGODB_URI")
    if configured:
        if not _answers(configured):
            service_unavailable(f"MongoDB at MONGODB_URI ({configured})")
        yield configured
        return
    executable = Path(sys.executable).with_name("secantusd-py")
    if not executable.exists():
        service_unavailable("SecantusDB (secantusd-py)")
    port = _free_port()
    uri = f"mongodb://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("secantus") / "server.log").open("wb")
    server = subprocess.Popen(
        [str(executable), "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(uri):
            if server.poll() is not None or time.monotonic() > deadline:
                service_unavailable(f"SecantusDB on port {port} (see {log.name})")
            time.sleep(0.1)
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        log.close()


@pytest.fixture(scope="session")
def _mongo_database(mongo_server_uri) -> Iterator[str]:
    """Settings pointed at the server and a database of this session alone, indexes created."""
    from emporium.core.mongo import mongo_database, mongo_disconnect
    from emporium.reviews.management.commands.mongo_ensure_indexes import DOCUMENTS

    name = f"emporium_test_{uuid.uuid4().hex[:12]}"
    with override_settings(MONGODB_URI=mongo_server_uri, MONGODB_DB=name):
        for document in DOCUMENTS:
            mongo_database()
            document.ensure_indexes()
        yield name
        mongo_database().client.drop_database(name)
        mongo_disconnect()


@pytest.fixture(autouse=True)
def mongo(_mongo_database) -> Iterator[str]:
    """Every review test starts with empty collections (indexes kept)."""
    from emporium.reviews.management.commands.mongo_ensure_indexes import DOCUMENTS

    yield _mongo_database
    for document in DOCUMENTS:
        document._get_collection().delete_many({})
