"""gzip responses for clients that accept them; gzip request bodies decompressed, within limits."""

import gzip
import json
import random
import tracemalloc

import pytest
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from emporium.core.compression import (
    BodyTooLarge,
    GzipBodyDecoder,
    MalformedBody,
    accepts_gzip,
    gunzip_bounded,
)
from tests.factories import NoteFactory
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db  # every request resolves its tenant

PROBLEM = "application/problem+json"
TEXT = ("All the shop's products, described at length. " * 100).encode()  # ~4.7 KB


@csrf_exempt
def echo(request):
    """What a plain Django view sees of the request body and its headers."""
    return JsonResponse(
        {
            "header": request.headers.get("Content-Encoding"),
            "meta": request.META.get("HTTP_CONTENT_ENCODING"),
            "content_length": request.META.get("CONTENT_LENGTH"),
            "body": request.body.decode(),
            "form": request.POST.dict(),
        }
    )


def text(request):
    size = int(request.GET.get("size", len(TEXT)))
    response = HttpResponse(TEXT[:size], content_type=request.GET.get("type", "text/plain"))
    if "etag" in request.GET:
        response["ETag"] = request.GET["etag"]
    if "encoding" in request.GET:
        response["Content-Encoding"] = request.GET["encoding"]
    return response


def stream(request):
    chunks = (TEXT[i : i + 1000] for i in range(0, len(TEXT), 1000))
    return StreamingHttpResponse(chunks, content_type=request.GET.get("type", "text/plain"))


urlpatterns = [
    path("compression/echo/", echo),
    path("compression/text/", text),
    path("compression/stream/", stream),
    path("", include("tests.testapp.urls")),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.GZIP_MIN_BYTES = 1024
    settings.REQUEST_MAX_DECOMPRESSED_BYTES = 10 * 1024 * 1024


def _vary(response):
    return {v.strip().lower() for v in response.get("Vary", "").split(",") if v.strip()}


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code
    return response.json()


# --- Responses ----------------------------------------------------------------------------------


def test_large_response_is_gzipped_for_clients_that_accept_it(client):
    response = client.get("/compression/text/", HTTP_ACCEPT_ENCODING="deflate, gzip;q=0.8")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "accept-encoding" in _vary(response)
    assert int(response["Content-Length"]) == len(response.content) < len(TEXT)
    assert gzip.decompress(response.content) == TEXT


@pytest.mark.parametrize(
    "accept_encoding", ["gzip;q=0", "br, deflate", "identity", "", "br, *;q=0", "*;q=1, gzip;q=0"]
)
def test_not_gzipped_when_client_refuses_gzip_but_varies(client, accept_encoding):
    response = client.get("/compression/text/", HTTP_ACCEPT_ENCODING=accept_encoding)
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")
    assert response.content == TEXT
    # The same URL would have been compressed for another client: caches must key on it.
    assert "accept-encoding" in _vary(response)


def test_not_gzipped_without_accept_encoding(client):
    response = client.get("/compression/text/")
    assert not response.has_header("Content-Encoding")
    assert response.content == TEXT


@pytest.mark.parametrize("accept_encoding", ["*", "x-gzip", "GZIP; Q=0.5"])
def test_wildcard_x_gzip_and_case_are_understood(client, accept_encoding):
    response = client.get("/compression/text/", HTTP_ACCEPT_ENCODING=accept_encoding)
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == TEXT


def test_threshold_follows_setting(client, settings):
    small = client.get("/compression/text/?size=1000", HTTP_ACCEPT_ENCODING="gzip")
    assert not small.has_header("Content-Encoding")
    assert small.content == TEXT[:1000]
    assert "accept-encoding" not in _vary(small)

    settings.GZIP_MIN_BYTES = 500
    now_large = client.get("/compression/text/?size=1000", HTTP_ACCEPT_ENCODING="gzip")
    assert now_large["Content-Encoding"] == "gzip"
    assert gzip.decompress(now_large.content) == TEXT[:1000]


@pytest.mark.parametrize(
    "content_type", ["image/png", "video/mp4", "application/zip", "font/woff2", "text/event-stream"]
)
def test_precompressed_and_event_stream_types_are_left_alone(client, content_type):
    response = client.get(f"/compression/text/?type={content_type}", HTTP_ACCEPT_ENCODING="gzip")
    assert not response.has_header("Content-Encoding")
    assert response.content == TEXT


def test_svg_is_compressed(client):
    response = client.get("/compression/text/?type=image/svg%2Bxml", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"


def test_already_encoded_response_is_untouched(client):
    response = client.get("/compression/text/?encoding=br", HTTP_ACCEPT_ENCODING="gzip, br")
    assert response["Content-Encoding"] == "br"
    assert response.content == TEXT


def test_strong_etag_is_weakened_when_compressed(client):
    response = client.get('/compression/text/?etag="v1"', HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert response["ETag"] == 'W/"v1"'
    plain = client.get('/compression/text/?etag="v1"')
    assert plain["ETag"] == '"v1"'


def test_streaming_response_is_compressed_as_a_stream(client):
    response = client.get("/compression/stream/", HTTP_ACCEPT_ENCODING="gzip")
    assert response.streaming
    assert response["Content-Encoding"] == "gzip"
    assert not response.has_header("Content-Length")
    assert gzip.decompress(b"".join(response.streaming_content)) == TEXT


def test_event_stream_is_not_buffered_by_gzip(client):
    response = client.get(
        "/compression/stream/?type=text/event-stream", HTTP_ACCEPT_ENCODING="gzip"
    )
    assert not response.has_header("Content-Encoding")
    assert b"".join(response.streaming_content) == TEXT


def test_api_list_is_gzipped(client):
    NoteFactory.create_batch(5, body="A long description of the note. " * 20)
    response = client.get("/test-api/notes/", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.content))["count"] == 5


def test_accepts_gzip_parsing():
    assert accepts_gzip("gzip")
    assert accepts_gzip("br;q=1.0, gzip;q=0.001")
    assert not accepts_gzip("gzip;q=0.000")
    assert not accepts_gzip("gzip;q=banana")
    assert not accepts_gzip(None)


# --- Request bodies -----------------------------------------------------------------------------


def _post_json(client, url, payload, encoding="gzip", compress=True):
    body = json.dumps(payload).encode()
    if compress:
        body = gzip.compress(body)
    headers = {"Content-Encoding": encoding} if encoding is not None else {}
    return client.generic("POST", url, body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZip", " gzip "])
def test_gzipped_json_post_creates_the_note(client, encoding):
    response = _post_json(
        client, "/test-api/notes/", {"slug": "zipped", "body": "from a phone"}, encoding
    )
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "zipped"
    assert Note.objects.get(slug="zipped").body == "from a phone"


def test_identity_is_a_no_op(client):
    response = _post_json(
        client, "/test-api/notes/", {"slug": "plain"}, encoding="identity", compress=False
    )
    assert response.status_code == 201, response.content
    assert Note.objects.filter(slug="plain").exists()


def test_views_see_a_plain_body_and_headers(client):
    raw = json.dumps({"hello": "wörld"}).encode()
    response = client.generic(
        "POST",
        "/compression/echo/",
        gzip.compress(raw),
        content_type="application/json",
        # Read early by RequestIDMiddleware, so request.headers is already cached.
        headers={"Content-Encoding": "gzip", "X-Request-ID": "req-compress-0001"},
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["header"] is None
    assert seen["meta"] is None
    assert seen["content_length"] == str(len(raw))
    assert json.loads(seen["body"]) == {"hello": "wörld"}


def test_gzipped_form_is_parsed(client):
    response = client.generic(
        "POST",
        "/compression/echo/",
        gzip.compress(b"name=Ada&city=London"),
        content_type="application/x-www-form-urlencoded",
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.json()["form"] == {"name": "Ada", "city": "London"}


def test_concatenated_gzip_members_are_one_body(client):
    response = client.generic(
        "POST",
        "/compression/echo/",
        gzip.compress(b'{"a": ') + gzip.compress(b"1}"),
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.json()["body"] == '{"a": 1}'


def test_empty_gzip_body_is_an_empty_body(client):
    response = client.generic(
        "POST", "/compression/echo/", b"", headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.json()["body"] == ""


_VALID = gzip.compress(b'{"slug": "broken"}')


@pytest.mark.parametrize(
    "body",
    [
        b'{"slug": "broken"}',  # not gzip at all
        _VALID[:-4],  # truncated: no size trailer
        _VALID[:-8] + b"\0\0\0\0" + _VALID[-4:],  # wrong checksum
        _VALID + b"trailing garbage",
    ],
    ids=["not-gzip", "truncated", "bad-crc", "trailing-garbage"],
)
def test_malformed_gzip_is_400(client, body):
    response = client.generic(
        "POST",
        "/test-api/notes/",
        body,
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    _problem(response, 400, "malformed_content_encoding")
    assert not Note.objects.exists()


@pytest.mark.parametrize(
    "encoding", ["br", "deflate", "zstd", "compress", "gzip, br", "gzip, gzip", "identity, br"]
)
def test_unsupported_encoding_is_415_with_accept_encoding(client, encoding):
    response = _post_json(client, "/test-api/notes/", {"slug": "nope"}, encoding)
    _problem(response, 415, "unsupported_content_encoding")
    assert response["Accept-Encoding"] == "gzip"
    assert not Note.objects.exists()


def test_zip_bomb_is_413_and_memory_stays_bounded(client, settings):
    limit = 1024 * 1024
    settings.REQUEST_MAX_DECOMPRESSED_BYTES = limit
    bomb = gzip.compress(b'{"slug": "bomb", "body": "' + b"0" * (20 * 1024 * 1024) + b'"}')
    assert len(bomb) < 100 * 1024
    client.get("/compression/text/")  # warm up: imports and first-request setup are not measured

    tracemalloc.start()
    try:
        response = client.generic(
            "POST",
            "/test-api/notes/",
            bomb,
            content_type="application/json",
            headers={"Content-Encoding": "gzip"},
        )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    _problem(response, 413, "request_too_large")
    assert not Note.objects.exists()
    # Inflating the bomb would take 20 MiB; the decoder stops just past the 1 MiB limit.
    assert peak < 4 * limit


def test_body_under_the_decompressed_limit_is_accepted(client, settings):
    settings.REQUEST_MAX_DECOMPRESSED_BYTES = 10_000
    fits = _post_json(client, "/test-api/notes/", {"slug": "fits", "body": "x" * 9000})
    assert fits.status_code == 201, fits.content
    too_big = _post_json(client, "/test-api/notes/", {"slug": "too-big", "body": "x" * 10_000})
    _problem(too_big, 413, "request_too_large")
    assert not Note.objects.filter(slug="too-big").exists()


def test_compressed_body_obeys_data_upload_max_memory_size(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    # Random hex gzips to about half its size: ~3 KB compressed, over the 1000-byte limit.
    incompressible = random.Random(0).randbytes(3000).hex()
    response = _post_json(client, "/test-api/notes/", {"slug": "big", "body": incompressible})
    _problem(response, 413, "request_too_large")
    assert not Note.objects.exists()


def gunzip_into(decoder, pieces):
    for piece in pieces:
        decoder.feed(piece)
    return decoder.finish()


def test_decoder_never_produces_more_than_limit_plus_one_byte():
    limit = 1024 * 1024
    bomb = gzip.compress(bytes(20 * 1024 * 1024))
    decoder = GzipBodyDecoder(limit=limit, chunk_bytes=64 * 1024)
    pieces = [bomb[start : start + 4096] for start in range(0, len(bomb), 4096)]
    with pytest.raises(BodyTooLarge):
        gunzip_into(decoder, pieces)
    assert limit < decoder.produced <= limit + 1


def test_decoder_accepts_exactly_the_limit_and_any_split():
    data = bytes(range(256)) * 400
    compressed = gzip.compress(data)
    pieces = [compressed[i : i + 7] for i in range(0, len(compressed), 7)]
    assert gunzip_bounded(pieces, limit=len(data)) == data
    with pytest.raises(BodyTooLarge):
        gunzip_bounded([compressed], limit=len(data) - 1)
    with pytest.raises(MalformedBody):
        gunzip_bounded([compressed[:-1]], limit=len(data))
