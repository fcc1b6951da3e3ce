"""/robots.txt and /.well-known/security.txt (RFC 9116)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

ROBOTS = "/robots.txt"
SECURITY_TXT = "/.well-known/security.txt"


@pytest.fixture
def security_settings(settings):
    settings.SECURITY_TXT = {
        "contact": "mailto:security@shop.example.com",
        "policy": None,
        "preferred_languages": "en, de, es",
        "expires_days": 180,
    }
    return settings.SECURITY_TXT


def _fields(response):
    """`Name: value` lines -> [(name, value)], in order."""
    text = response.content.decode()
    assert text.endswith("\n")
    fields = []
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        assert sep, f"not a field line: {line!r}"
        fields.append((name, value))
    return fields


def _field(response, name):
    values = [value for field, value in _fields(response) if field == name]
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


@pytest.mark.parametrize("url", [ROBOTS, SECURITY_TXT])
def test_served_as_cacheable_utf8_text(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=86400"


@pytest.mark.parametrize("url", [ROBOTS, SECURITY_TXT])
def test_head_answers_like_get_without_a_body(client, url):
    response = client.head(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response.content == b""


@pytest.mark.parametrize("url", [ROBOTS, SECURITY_TXT])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_other_methods_are_refused(client, url, method):
    response = getattr(client, method)(url)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


def test_robots_keeps_crawlers_out_of_api_admin_and_graphql(client, settings):
    settings.SITEMAP_URL = None

    fields = _fields(client.get(ROBOTS))

    assert fields == [
        ("User-agent", "*"),
        ("Disallow", "/api/"),
        ("Disallow", "/admin/"),
        ("Disallow", "/graphql"),
    ]


def test_robots_links_the_configured_sitemap(client, settings):
    settings.SITEMAP_URL = "https://shop.example.com/sitemap.xml"

    response = client.get(ROBOTS)

    assert _field(response, "Sitemap") == "https://shop.example.com/sitemap.xml"
    assert ("Disallow", "/api/") in _fields(response)


def test_robots_makes_a_sitemap_path_absolute_on_the_request_host(client, settings):
    settings.SITEMAP_URL = "/sitemap.xml"

    response = client.get(ROBOTS, HTTP_HOST="localhost")

    assert _field(response, "Sitemap") == "https://localhost/sitemap.xml"


def test_security_txt_fields(client, security_settings):
    response = client.get(SECURITY_TXT)

    assert _field(response, "Contact") == "mailto:security@shop.example.com"
    assert _field(response, "Preferred-Languages") == "en, de, es"
    assert _field(response, "Canonical") == "https://testserver/.well-known/security.txt"
    assert "Policy" not in dict(_fields(response))


def test_security_txt_expires_in_the_configured_days_and_under_a_year(client, security_settings):
    before = timezone.now().replace(microsecond=0)
    response = client.get(SECURITY_TXT)
    after = timezone.now()

    raw = _field(response, "Expires")
    expires = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)  # RFC 3339, UTC
    assert datetime.fromisoformat(raw) == expires
    assert before + timedelta(days=180) <= expires <= after + timedelta(days=180)
    assert expires > after
    assert expires - after < timedelta(days=365)


def test_security_txt_expiry_follows_the_setting(client, security_settings):
    security_settings["expires_days"] = 7
    after = timezone.now()

    expires = datetime.fromisoformat(_field(client.get(SECURITY_TXT), "Expires"))

    assert after < expires <= timezone.now() + timedelta(days=7)


def test_security_txt_links_the_policy_when_configured(client, security_settings):
    security_settings["policy"] = "https://shop.example.com/security-policy"

    response = client.get(SECURITY_TXT)

    assert _field(response, "Policy") == "https://shop.example.com/security-policy"


def test_security_txt_canonical_uses_https_and_the_request_host(client, security_settings):
    for kwargs in ({"HTTP_HOST": "localhost"}, {"HTTP_HOST": "localhost", "secure": True}):
        response = client.get(SECURITY_TXT, **kwargs)
        assert _field(response, "Canonical") == "https://localhost/.well-known/security.txt"


def test_security_txt_default_configuration_is_valid(client):
    """The shipped defaults produce the fields RFC 9116 requires (Contact, Expires)."""
    response = client.get(SECURITY_TXT)

    assert _field(response, "Contact").startswith(("mailto:", "https://", "tel:"))
    assert datetime.fromisoformat(_field(response, "Expires")) > timezone.now()


def test_security_txt_is_served_for_every_shop_host(client, settings, security_settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "other.shop.test"]
    TenantDomainFactory(domain="other.shop.test")

    response = client.get(SECURITY_TXT, HTTP_HOST="other.shop.test")

    assert response.status_code == 200
    assert _field(response, "Canonical") == "https://other.shop.test/.well-known/security.txt"
