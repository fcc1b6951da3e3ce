"""The MongoDB connection helper: the two standard settings only, lazy, per process, health."""

import os
import re
from pathlib import Path

import pytest
from django.test import override_settings

from emporium.core import mongo
from emporium.reviews.tests.conftest import mongo_server_uri  # noqa: F401 (session fixture)

ROOT = Path(__file__).resolve().parents[3]
# Spellings a helper might invent instead of MONGODB_URI / MONGODB_DB.
OTHER_SPELLINGS = re.compile(
    r"\b(MONGO_URL|MONGO_URI|MONGODB_URL|MONGO_HOST|MONGO_DB|MONGO_DATABASE|MONGODB_HOST|"
    r"MONGODB_NAME|MONGODB_DATABASE|MONGO_DSN|MONGODB_DSN)\b"
)


def test_no_other_spelling_of_the_mongodb_variables_anywhere():
    offenders = []
    for folder in ("emporium", "config", "scripts", "docs", ".ci", "deploy"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {
                ".py",
                ".sh",
                ".md",
                ".toml",
                ".yml",
                ".yaml",
                "",
            }:
                if path == Path(__file__):
                    continue
                text = path.read_text(errors="ignore")
                offenders += [
                    f"{path.relative_to(ROOT)}: {m}" for m in OTHER_SPELLINGS.findall(text)
                ]
    for name in ("Makefile", "Procfile", "README.md"):
        text = (ROOT / name).read_text()
        offenders += [f"{name}: {m}" for m in OTHER_SPELLINGS.findall(text)]
    assert offenders == []


def test_reads_exactly_the_two_settings(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://wrong:1")
    monkeypatch.setenv("MONGODB_URL", "mongodb://wrong:2")
    with override_settings(MONGODB_URI="mongodb://db.example:27017", MONGODB_DB="shop"):
        assert mongo.mongo_settings() == ("mongodb://db.example:27017", "shop")


def test_unset_uri_is_a_clear_error():
    with (
        override_settings(MONGODB_URI=None),
        pytest.raises(mongo.MongoNotConfigured, match="MONGODB_URI"),
    ):
        mongo.mongo_connect()


def test_connects_once_and_follows_changed_settings(mongo_server_uri):  # noqa: F811
    try:
        with override_settings(MONGODB_URI=mongo_server_uri, MONGODB_DB="emporium_helper_a"):
            first = mongo.mongo_database()
            assert mongo.mongo_database() is first
            assert first.name == "emporium_helper_a"
            mongo.mongo_ping()
        with override_settings(MONGODB_URI=mongo_server_uri, MONGODB_DB="emporium_helper_b"):
            assert mongo.mongo_database().name == "emporium_helper_b"
    finally:
        mongo.mongo_disconnect()
    assert not mongo.mongo_is_connected()


def test_a_forked_child_opens_its_own_connection(mongo_server_uri):  # noqa: F811
    with override_settings(MONGODB_URI=mongo_server_uri, MONGODB_DB="emporium_helper_fork"):
        mongo.mongo_ping()
        assert mongo.mongo_is_connected()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: forgot the parent's client, connects anew
            status = 1
            try:
                forgot = not mongo.mongo_is_connected()
                mongo.mongo_ping()
                status = 0 if forgot else 2
            finally:
                os.write(write, bytes([status]))
                os._exit(0)
        os.close(write)
        result = os.read(read, 1)
        os.waitpid(pid, 0)
        os.close(read)
        assert result == b"\x00"
        mongo.mongo_ping()  # the parent's connection still works
    mongo.mongo_disconnect()


def test_health_reports_mongodb_only_when_configured():
    from emporium.core.health import dependency_checks

    with override_settings(MONGODB_URI=None):
        assert "mongodb" not in dependency_checks()
    with override_settings(MONGODB_URI="mongodb://127.0.0.1:27017"):
        assert "mongodb" in dependency_checks()


@pytest.mark.django_db
def test_health_up_and_down(client, monkeypatch, mongo_server_uri):  # noqa: F811
    from emporium.core import health

    monkeypatch.setitem(health.DEPENDENCY_CHECKS, "mongodb", health.check_mongodb)
    try:
        with override_settings(MONGODB_URI=mongo_server_uri):
            response = client.get("/health/")
            assert response.status_code == 200
            assert response.json()["checks"]["mongodb"]["status"] == "up"
        with override_settings(MONGODB_URI="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"):
            response = client.get("/health/")
            assert response.status_code == 503
            body = response.json()
            assert body["down"] == ["mongodb"]
            assert body["checks"]["mongodb"]["error"].startswith("ServerSelectionTimeoutError")
    finally:
        mongo.mongo_disconnect()
