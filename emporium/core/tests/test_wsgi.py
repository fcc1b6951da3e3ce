"""The WSGI entry point servers load (`config.wsgi.application`)."""

import io
import sys

import pytest
from django.core.signals import request_finished
from django.http import StreamingHttpResponse

pytestmark = pytest.mark.django_db


def _environ(path):
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT": "application/json",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }


def test_a_complete_response_is_one_chunk_and_the_request_is_finished():
    from config.wsgi import application

    finished, started = [], []
    request_finished.connect(lambda **kwargs: finished.append(True), weak=False)
    body = application(_environ("/health/live"), lambda status, headers: started.append(status))
    assert started == ["200 OK"]
    assert isinstance(body, list)
    assert len(body) == 1
    assert b'"status": "up"' in body[0]
    assert finished  # the response was closed, as a server closes it after the last chunk


def test_a_streaming_response_is_left_to_stream(monkeypatch):
    import config.wsgi

    streamed = StreamingHttpResponse(iter([b"a,b\n", b"1,2\n"]))
    monkeypatch.setattr(config.wsgi, "django_application", lambda environ, start: streamed)
    body = config.wsgi.application(_environ("/export"), lambda status, headers: None)
    assert body is streamed
    assert b"".join(body) == b"a,b\n1,2\n"
