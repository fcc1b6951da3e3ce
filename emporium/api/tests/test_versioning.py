"""Version lifecycle headers and the changelog they link to."""

from datetime import UTC, datetime

import pytest
from django.utils.http import parse_http_date

pytestmark = pytest.mark.django_db


@pytest.fixture
def v1_deprecated(settings):
    settings.API_VERSIONS = {
        "v1": {"deprecated_at": "2026-12-01T00:00:00+00:00", "sunset_at": "2027-06-30T00:00:00Z"},
        "v2": {"deprecated_at": None, "sunset_at": None},
    }


def test_current_versions_carry_no_deprecation_headers(client):
    for version in ("v1", "v2"):
        response = client.get(f"/api/{version}/")
        assert response.status_code == 200
        assert "Deprecation" not in response
        assert "Sunset" not in response


def test_deprecated_version_announces_itself(client, v1_deprecated):
    response = client.get("/api/v1/")
    assert response["Deprecation"] == f"@{int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())}"
    assert parse_http_date(response["Sunset"]) == int(datetime(2027, 6, 30, tzinfo=UTC).timestamp())
    assert response["Link"] == '</api/changelog/>; rel="deprecation"; type="text/markdown"'
    assert "Deprecation" not in client.get("/api/v2/")


def test_deprecation_headers_also_on_errors(client, v1_deprecated):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Deprecation"].startswith("@")


def test_changelog_is_served(client):
    response = client.get("/api/changelog/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert b"# API changelog" in b"".join(response.streaming_content)


def test_unknown_version_is_a_problem(client):
    response = client.get("/api/v3/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
