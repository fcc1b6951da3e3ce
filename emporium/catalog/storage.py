"""S3-compatible object storage (AWS S3, MinIO, Ceph...) and signed links to private files.

Storage is on when `S3_BUCKET` is set. Objects under `public/` are meant to be readable by anyone
(a bucket policy or a CDN in front); everything else is private and reached only through
presigned, expiring URLs (`presigned_get_url`). Files kept on local disk get the same treatment
with Django-signed, expiring links (`link_signature` / `link_signature_check`). Other modules
(invoices, exports) reuse these helpers.

Every failure to talk to the storage is a `StorageUnavailable`, a `TransientError`, so a Celery
task calling these helpers is retried with backoff by `BaseTask`.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext_lazy as _

from emporium.core.errors import ApplicationError
from emporium.core.tasks import TransientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PUBLIC_PREFIX = "public/"
PRIVATE_PREFIX = "private/"
# Celery owns the retry policy; botocore only smooths over a single dropped connection.
_CLIENT_CONFIG: dict[str, Any] = {
    "signature_version": "s3v4",
    "connect_timeout": 5,
    "read_timeout": 30,
    "retries": {"mode": "standard", "total_max_attempts": 2},
}


class StorageUnavailable(TransientError):
    """The storage refused or could not be reached. The message names the operation and the
    error code only (never credentials or URLs), so it can be stored and shown to staff."""


class LinkSignatureInvalid(ApplicationError):
    status = 403
    code = "signature_invalid"
    title = _("This link is not valid.")


class LinkSignatureExpired(ApplicationError):
    status = 403
    code = "signature_expired"
    title = _("This link has expired; ask for a new one.")


@dataclass(frozen=True)
class StorageSettings:
    bucket: str
    endpoint_url: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None
    public_base_url: str | None


def storage_enabled() -> bool:
    """Whether an S3 bucket is configured (`S3_BUCKET`)."""
    return bool(settings.S3_BUCKET)


def storage_settings() -> StorageSettings:
    """The S3 settings; only meaningful when `storage_enabled()`."""
    return StorageSettings(
        bucket=settings.S3_BUCKET or "",
        endpoint_url=settings.S3_ENDPOINT_URL,
        region=settings.S3_REGION,
        access_key_id=settings.AWS_ACCESS_KEY_ID,
        secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
        public_base_url=settings.S3_PUBLIC_BASE_URL,
    )


def signed_url_ttl() -> int:
    """Seconds a signed link to a private file works (`S3_SIGNED_URL_TTL`)."""
    return int(settings.S3_SIGNED_URL_TTL)


@functools.lru_cache(maxsize=8)
def _client(
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> S3Client:
    # Path-style addressing for custom endpoints: MinIO and most self-hosted servers have no
    # wildcard DNS for virtual-hosted buckets.
    addressing = {"addressing_style": "path" if endpoint_url else "auto"}
    config = Config(**_CLIENT_CONFIG, s3=addressing)  # type: ignore[arg-type]
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        # None lets boto3 find credentials itself (instance role, ~/.aws, environment).
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )
    return client


def s3_client() -> S3Client:
    """A boto3 S3 client for the configured storage (cached per configuration; thread-safe)."""
    config = storage_settings()
    return _client(
        config.endpoint_url, config.region, config.access_key_id, config.secret_access_key
    )


def _unavailable(operation: str, exc: Exception) -> StorageUnavailable:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or "ClientError")
    else:
        code = type(exc).__name__
    return StorageUnavailable(f"{operation}: {code}")


def sha256_base64(hex_digest: str) -> str:
    """The base64 form S3 expects in `ChecksumSHA256`, from a hex SHA-256 digest."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def object_put(
    key: str,
    data: bytes,
    *,
    content_type: str,
    checksum_sha256: str,
    cache_control: str | None = None,
) -> None:
    """Store `data` at `key`; the storage verifies it against `checksum_sha256` (hex) and
    refuses a damaged upload. Overwrites: safe to repeat."""
    config = storage_settings()
    extra: dict[str, Any] = {}
    if cache_control:
        extra["CacheControl"] = cache_control
    try:
        s3_client().put_object(
            Bucket=config.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=sha256_base64(checksum_sha256),
            **extra,
        )
    except (BotoCoreError, ClientError) as exc:
        raise _unavailable("put_object", exc) from exc


def objects_delete(keys: Iterable[str]) -> None:
    """Delete these objects; a missing one is fine (safe to repeat)."""
    config = storage_settings()
    for key in keys:
        try:
            s3_client().delete_object(Bucket=config.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("delete_object", exc) from exc


def public_url(key: str) -> str:
    """The address anyone can fetch a public object from: `S3_PUBLIC_BASE_URL` (a CDN) when
    set, else the endpoint's path-style URL, else the AWS virtual-hosted URL."""
    config = storage_settings()
    path = quote(key)
    if config.public_base_url:
        return f"{config.public_base_url.rstrip('/')}/{path}"
    if config.endpoint_url:
        return f"{config.endpoint_url.rstrip('/')}/{quote(config.bucket)}/{path}"
    return f"https://{config.bucket}.s3.{config.region}.amazonaws.com/{path}"


def presigned_get_url(
    key: str,
    *,
    ttl: int | None = None,
    filename: str | None = None,
    content_type: str | None = None,
) -> str:
    """A presigned GET URL for a private object, valid `ttl` seconds (`S3_SIGNED_URL_TTL` by
    default); with `filename` the browser downloads it under that name."""
    params: dict[str, Any] = {"Bucket": storage_settings().bucket, "Key": key}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    if content_type:
        params["ResponseContentType"] = content_type
    try:
        url: str = s3_client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=ttl or signed_url_ttl()
        )
    except (BotoCoreError, ClientError) as exc:  # signing is local; only bad config fails
        raise _unavailable("presign", exc) from exc
    return url


# --- Signed links to local files --------------------------------------------------------------


def link_signature(value: str, *, salt: str) -> str:
    """A timestamped signature of `value` (e.g. a file's id) for a link's query string."""
    signer = signing.TimestampSigner(salt=salt)
    return signer.sign(value).split(signer.sep, 1)[1]


def link_signature_check(
    value: str, signature: str, *, salt: str, max_age: int | None = None
) -> None:
    """Raise `LinkSignatureInvalid` or `LinkSignatureExpired` unless `signature` was made for
    `value` (with `salt`) within `max_age` seconds (`S3_SIGNED_URL_TTL` by default)."""
    signer = signing.TimestampSigner(salt=salt)
    try:
        signer.unsign(f"{value}{signer.sep}{signature}", max_age=max_age or signed_url_ttl())
    except signing.SignatureExpired as exc:
        raise LinkSignatureExpired() from exc
    except signing.BadSignature as exc:
        raise LinkSignatureInvalid() from exc
