"""Accept-Language picks the language of messages; error codes never change."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from conftest import service_unavailable

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", 'Method "DELETE" not allowed.'),
        ("de", 'Methode "DELETE" nicht erlaubt.'),
        ("es", 'Método "DELETE" no permitido.'),
    ],
)
def test_drf_messages_follow_accept_language(client, language, expected):
    response = client.delete("/api/v1/", HTTP_ACCEPT_LANGUAGE=language)
    body = response.json()
    assert body["code"] == "method_not_allowed"
    assert body["detail"] == expected
    assert response["Content-Language"] == language


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "Unter dieser Adresse gibt es keine Ressource."),
        ("es-ES", "No existe ningún recurso en esta dirección."),
        ("fr", "No resource exists at this address."),
    ],
)
def test_own_messages_are_translated(client, language, expected):
    body = client.get("/api/v1/unknown/", HTTP_ACCEPT_LANGUAGE=language).json()
    assert body["code"] == "not_found"
    assert body["detail"] == expected


def test_compiled_catalogues_are_up_to_date(tmp_path):
    """The committed .mo files match their .po files (run `make compilemessages`)."""
    if shutil.which("msgfmt") is None:
        service_unavailable("gettext (msgfmt)")
    catalogues = sorted(Path(settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/django.po"))
    assert {p.parts[-3] for p in catalogues} >= {"de", "es"}
    for po in catalogues:
        fresh = tmp_path / f"{po.parts[-3]}.mo"
        subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(po)], check=True)
        assert fresh.read_bytes() == po.with_suffix(".mo").read_bytes(), po


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("de", "E-Mail-Adresse oder Passwort ist falsch."),
        ("es", "El correo electrónico o la contraseña no son correctos."),
    ],
)
def test_account_messages_are_translated(client, language, expected):
    response = client.post(
        "/api/v1/auth/token/",
        {"email": "nobody@example.com", "password": "wrong-wrong-wrong"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.json()["code"] == "invalid_credentials"
    assert response.json()["detail"] == expected
