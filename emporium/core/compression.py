"""HTTP compression: gzip responses for clients that accept it, gunzip request bodies.

Responses: `GZipResponseMiddleware` is Django's `GZipMiddleware` (same `compress_string` /
`compress_sequence`, same random-filename padding against BREACH-style length attacks, same ETag
weakening) with our threshold (`GZIP_MIN_BYTES`), q-values honoured in `Accept-Encoding`, and no
compression for bodies that are already compressed (images, archives), event streams, ranges,
204 and 304.

Requests: `RequestDecompressionMiddleware` turns a `Content-Encoding: gzip` body into the plain
body before any view or parser sees it, with a hard limit on the decompressed size so a zip bomb
never allocates more than `REQUEST_MAX_DECOMPRESSED_BYTES` + one chunk.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import AsyncIterator, Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.gzip import GZipMiddleware
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.functional import Promise
from django.utils.text import compress_sequence, compress_string
from django.utils.translation import gettext_lazy as _

from emporium.core.errors import problem_response

DEFAULT_GZIP_MIN_BYTES = 1024
DEFAULT_REQUEST_MAX_DECOMPRESSED_BYTES = 10 * 1024 * 1024
# How much compressed input is read, and decompressed output produced, per step.
READ_CHUNK_BYTES = 64 * 1024
DECOMPRESS_CHUNK_BYTES = 64 * 1024

GZIP_CODINGS = frozenset({"gzip", "x-gzip"})  # RFC 9110 §8.4.1.3: x-gzip is gzip

# Media types whose bytes are already compressed: gzip would only cost CPU.
_PRECOMPRESSED_PREFIXES = ("image/", "audio/", "video/", "font/woff")
_PRECOMPRESSED_TYPES = frozenset(
    {
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/zstd",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/font-woff",
    }
)
# Compressible although under a pre-compressed prefix.
_COMPRESSIBLE_EXCEPTIONS = frozenset({"image/svg+xml"})
# gzip buffers its output, which would hold back server-sent events until the stream ends.
_NEVER_COMPRESSED = frozenset({"text/event-stream"})


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an `Accept-Encoding` value allows gzip (RFC 9110 §12.5.3, q-values honoured).

    An explicit `gzip`/`x-gzip` entry decides; otherwise `*` does. A missing header is treated
    as "no compression" (as Django does), and so is an empty one (identity only).
    """
    if not accept_encoding:
        return False
    gzip_q: float | None = None
    star_q: float | None = None
    for item in accept_encoding.split(","):
        coding, _sep, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = _qvalue(params)
        if coding in GZIP_CODINGS:
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def _qvalue(params: str) -> float:
    for param in params.split(";"):
        name, _sep, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def is_compressible_type(content_type: str) -> bool:
    """False for media types that are already compressed or must not be buffered."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _NEVER_COMPRESSED or media_type in _PRECOMPRESSED_TYPES:
        return False
    if media_type in _COMPRESSIBLE_EXCEPTIONS:
        return True
    return not media_type.startswith(_PRECOMPRESSED_PREFIXES)


class GZipResponseMiddleware(GZipMiddleware):
    """Django's GZipMiddleware with a configurable threshold and q-value aware negotiation."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not self._could_compress(response):
            return response
        # From here the representation depends on Accept-Encoding, whether or not this client
        # gets the compressed one.
        patch_vary_headers(response, ("Accept-Encoding",))
        if not accepts_gzip(request.META.get("HTTP_ACCEPT_ENCODING")):
            return response
        return self._compress(response)

    def _could_compress(self, response: HttpResponseBase) -> bool:
        if response.status_code < 200 or response.status_code in (204, 206, 304):
            return False
        if response.has_header("Content-Encoding") or response.has_header("Content-Range"):
            return False
        if not is_compressible_type(response.get("Content-Type", "")):
            return False
        minimum = getattr(settings, "GZIP_MIN_BYTES", DEFAULT_GZIP_MIN_BYTES)
        if isinstance(response, StreamingHttpResponse):
            # A streamed file announces its size; anything else may be long.
            length = response.get("Content-Length")
            return not (length is not None and length.isdigit() and int(length) < minimum)
        if isinstance(response, HttpResponse):
            return len(response.content) >= max(minimum, 1)
        return False

    def _compress(self, response: HttpResponseBase) -> HttpResponseBase:
        """The compression step of Django's GZipMiddleware.process_response, unchanged."""
        if isinstance(response, StreamingHttpResponse):
            if response.is_async:
                original_iterator = response.streaming_content

                async def gzip_wrapper() -> AsyncIterator[bytes]:
                    async for chunk in original_iterator:  # type: ignore[union-attr]
                        yield compress_string(bytes(chunk), max_random_bytes=self.max_random_bytes)

                response.streaming_content = gzip_wrapper()
            else:
                response.streaming_content = compress_sequence(
                    response.streaming_content,  # type: ignore[arg-type]
                    max_random_bytes=self.max_random_bytes,
                )
            # The compressed size is unknown until the stream ends.
            if response.has_header("Content-Length"):
                del response.headers["Content-Length"]
        elif isinstance(response, HttpResponse):
            compressed = compress_string(response.content, max_random_bytes=self.max_random_bytes)
            if len(compressed) >= len(response.content):
                return response
            response.content = compressed
            response.headers["Content-Length"] = str(len(compressed))
        else:
            return response
        # A strong ETag must become weak: the bytes differ from the uncompressed representation
        # (RFC 9110 §8.8.1), and weak comparison still matches for conditional GETs.
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag
        response.headers["Content-Encoding"] = "gzip"
        return response


# --- Request bodies ------------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """The (compressed or decompressed) request body exceeds its limit."""


class MalformedBody(Exception):
    """The request body is not valid gzip."""


class GzipBodyDecoder:
    """Decompresses a gzip stream fed in pieces, never producing more than `limit` + 1 bytes.

    Each step asks zlib for at most `chunk_bytes` (and never more than the remaining budget) of
    output, so the memory a zip bomb can claim is bounded by the limit, not by its ratio.
    Concatenated gzip members are accepted (RFC 1952 §2.2); anything else after the end of the
    stream, a bad header, a bad checksum or a truncated stream is `MalformedBody`.
    """

    def __init__(self, *, limit: int, chunk_bytes: int = DECOMPRESS_CHUNK_BYTES) -> None:
        self.limit = limit
        self.chunk_bytes = chunk_bytes
        self.produced = 0  # total decompressed bytes zlib handed back; tests check the bound
        self._output = io.BytesIO()
        self._decompressor = self._new_member()

    @staticmethod
    def _new_member() -> zlib._Decompress:
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        """Decompress one piece of the compressed body."""
        # Every round consumes input or produces output (capped by the budget), so the loop ends;
        # a round that does neither is treated as corrupt input rather than retried.
        while True:
            decompressor = self._decompressor
            if decompressor.eof:
                if not data:
                    return
                self._decompressor = decompressor = self._new_member()
            budget = min(self.chunk_bytes, self.limit + 1 - self.produced)
            try:
                out = decompressor.decompress(data, budget)
            except zlib.error as exc:
                raise MalformedBody(str(exc)) from exc
            self.produced += len(out)
            if self.produced > self.limit:
                raise BodyTooLarge(f"more than {self.limit} bytes once decompressed")
            self._output.write(out)
            remaining = (
                decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
            )
            if not out and not remaining:
                return
            if not out and len(remaining) >= len(data):
                raise MalformedBody("the decompressor made no progress")
            data = remaining

    def finish(self) -> bytes:
        """The whole decompressed body; `MalformedBody` if the stream stopped half-way."""
        # zlib may still hold output for input it has already consumed.
        self.feed(b"")
        if not self._decompressor.eof:
            raise MalformedBody("the gzip stream is truncated")
        return self._output.getvalue()


def gunzip_bounded(chunks: Iterable[bytes], *, limit: int) -> bytes:
    """Decompress a gzip body given in pieces; raise `BodyTooLarge` beyond `limit` bytes."""
    decoder = GzipBodyDecoder(limit=limit)
    for chunk in chunks:
        decoder.feed(chunk)
    return decoder.finish()


def parse_content_codings(value: str) -> list[str]:
    """`Content-Encoding` as a list of lower-case codings, `identity` dropped (a no-op)."""
    codings = (coding.strip().lower() for coding in value.split(","))
    return [coding for coding in codings if coding and coding != "identity"]


class RequestDecompressionMiddleware:
    """Replace a gzip request body with its decompressed bytes before any view or parser runs.

    - `Content-Encoding: gzip` or `x-gzip` (any case; `identity` is a no-op): the body is
      decompressed, `CONTENT_LENGTH` updated and the `Content-Encoding` header removed, so DRF
      parsers and Django's form parsing see the plain body.
    - The compressed body obeys `DATA_UPLOAD_MAX_MEMORY_SIZE` (as Django's `request.body` does)
      and the decompressed body `REQUEST_MAX_DECOMPRESSED_BYTES`: 413 `request_too_large`.
    - Invalid gzip (bad header or checksum, truncated, trailing bytes that are not another gzip
      member): 400 `malformed_content_encoding`.
    - Any other coding, or stacked codings ("gzip, br"): 415 `unsupported_content_encoding` with
      `Accept-Encoding: gzip` (RFC 9110 §15.5.16).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        header = request.META.get("HTTP_CONTENT_ENCODING")
        if header is None:
            return self.get_response(request)
        codings = parse_content_codings(header)
        if not codings:
            _set_body_headers(request, length=None)
            return self.get_response(request)
        if len(codings) != 1 or codings[0] not in GZIP_CODINGS:
            return _unsupported_encoding(request)
        try:
            body = self._read_and_decompress(request)
        except BodyTooLarge:
            return _problem(request, 413, "request_too_large", _("The request body is too large."))
        except MalformedBody:
            return _problem(
                request,
                400,
                "malformed_content_encoding",
                _("The request body is not valid gzip data."),
            )
        request._body = body
        request._stream = io.BytesIO(body)
        request._read_started = False  # type: ignore[attr-defined]
        _set_body_headers(request, length=len(body))
        return self.get_response(request)

    @staticmethod
    def _read_and_decompress(request: HttpRequest) -> bytes:
        compressed_limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if compressed_limit is not None and declared > compressed_limit:
            raise BodyTooLarge("compressed body over DATA_UPLOAD_MAX_MEMORY_SIZE")
        decoder = GzipBodyDecoder(
            limit=getattr(
                settings, "REQUEST_MAX_DECOMPRESSED_BYTES", DEFAULT_REQUEST_MAX_DECOMPRESSED_BYTES
            )
        )
        received = 0
        # The stream ends at CONTENT_LENGTH (WSGI) or at the end of the received body (ASGI);
        # counting what was read also bounds a body that did not declare its length.
        while chunk := request.read(READ_CHUNK_BYTES):
            received += len(chunk)
            if compressed_limit is not None and received > compressed_limit:
                raise BodyTooLarge("compressed body over DATA_UPLOAD_MAX_MEMORY_SIZE")
            decoder.feed(chunk)
        if received == 0:
            return b""
        return decoder.finish()


def _set_body_headers(request: HttpRequest, *, length: int | None) -> None:
    """The body is now unencoded: make the request's metadata say so."""
    request.META.pop("HTTP_CONTENT_ENCODING", None)
    if length is not None:
        request.META["CONTENT_LENGTH"] = str(length)
    # `request.headers` is cached from META the first time it is read (by earlier middleware).
    request.__dict__.pop("headers", None)


def _problem(request: HttpRequest, status: int, code: str, detail: Promise) -> HttpResponse:
    # LocaleMiddleware runs after this one: pick the client's language for the message here.
    with translation.override(translation.get_language_from_request(request)):
        return problem_response(request, status=status, code=code, detail=str(detail))


def _unsupported_encoding(request: HttpRequest) -> HttpResponse:
    response = _problem(
        request,
        415,
        "unsupported_content_encoding",
        _("Request bodies may only be compressed with gzip."),
    )
    response["Accept-Encoding"] = "gzip"
    return response
