"""Who is calling: `is_authenticated` without loading the session user of anonymous requests."""

import pytest
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory
from django.utils.functional import empty

from emporium.core.callers import is_authenticated

pytestmark = pytest.mark.django_db


def _through_auth_middleware(request):
    SessionMiddleware(lambda r: None).process_request(request)
    AuthenticationMiddleware(lambda r: None).process_request(request)
    return request


def test_without_a_session_cookie_the_session_user_is_never_loaded():
    request = _through_auth_middleware(RequestFactory().get("/api/v1/products/"))
    assert is_authenticated(request) is False
    assert request.user._wrapped is empty  # still the unevaluated lazy object


def test_a_signed_in_session_is_authenticated(client, make_user, settings):
    user = make_user(email="session@example.com")
    client.force_login(user)
    request = RequestFactory().get("/api/v1/products/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = client.cookies[
        settings.SESSION_COOKIE_NAME
    ].value
    request = _through_auth_middleware(request)
    assert is_authenticated(request) is True


def test_a_session_cookie_of_nobody_is_anonymous(settings):
    request = RequestFactory().get("/api/v1/products/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = "not-a-session"
    request = _through_auth_middleware(request)
    assert is_authenticated(request) is False
