"""EMAIL_URL -> Django email settings."""

from config.settings.base import _email


def test_embedded_default_writes_files():
    config = _email(None)
    assert config["EMAIL_BACKEND"] == "emporium.core.mail.FileAndLogEmailBackend"
    assert config["EMAIL_FILE_PATH"].endswith("mail")


def test_smtp_with_tls_and_credentials():
    config = _email("smtp+tls://user%40shop:p%40ss@mail.example.test:2525?timeout=3")
    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert config["EMAIL_HOST"] == "mail.example.test"
    assert config["EMAIL_PORT"] == 2525
    assert config["EMAIL_HOST_USER"] == "user@shop"
    assert config["EMAIL_HOST_PASSWORD"] == "p@ss"
    assert config["EMAIL_USE_TLS"] is True
    assert config["EMAIL_USE_SSL"] is False
    assert config["EMAIL_TIMEOUT"] == 3


def test_smtp_ssl_default_port():
    config = _email("smtp+ssl://mail.example.test")
    assert config["EMAIL_PORT"] == 465
    assert config["EMAIL_USE_SSL"] is True


def test_console_and_file_backends():
    assert _email("console://")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    assert _email("file:///srv/mails")["EMAIL_FILE_PATH"] == "/srv/mails"
