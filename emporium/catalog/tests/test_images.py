"""Product images over HTTP: upload checks (format, size, checksum), local and S3 storage (a real
S3-protocol server, moto, on loopback), the retried upload task, signed links to the private
originals, permissions and tenant isolation.

Celery runs eagerly here. An eager task's retry runs again at once, in-process (countdown
ignored), so `BaseTask`'s retry policy is exercised as it is: `max_retries` retries after the
first attempt. Between two attempts the test acts through Celery's `task_retry` signal (it creates
the missing bucket), as an operator would while the worker waits.
"""

import base64
import hashlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from celery import signals
from django.core.files.storage import default_storage
from django.utils import timezone
from freezegun import freeze_time
from moto.server import ThreadedMotoServer
from PIL import Image

from emporium.catalog import events, services
from emporium.catalog.images import demo_image_bytes
from emporium.catalog.models import ProductImage
from emporium.catalog.tasks_images import upload_product_image
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
IMAGES = "/api/v1/products/espresso-cup/images/"
HOST_B = "b.shop.test"
SECRET_KEY = "moto-secret-key-do-not-log"


# --- Fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def no_storage(settings):
    settings.S3_BUCKET = None
    settings.S3_ENDPOINT_URL = None
    settings.S3_PUBLIC_BASE_URL = None


@pytest.fixture(autouse=True)
def eager():
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def staff(make_user, bearer):
    return bearer(make_user(email="staff@example.com", is_staff=True))


@pytest.fixture
def customer(make_user, bearer):
    return bearer(make_user(email="customer@example.com"))


@pytest.fixture
def product():
    return services.product_create(
        name="Espresso Cup", sku="CUP-1", price=Decimal("12.50"), currency="EUR"
    )


@pytest.fixture(scope="module")
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_admin(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="moto-admin",
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture
def s3(settings, moto_server):
    """A fresh bucket on the moto server, configured as the shop's storage. Like a production
    bucket, only `public/` is readable without credentials."""
    bucket = f"emporium-{uuid.uuid4().hex[:12]}"
    settings.S3_BUCKET = bucket
    settings.S3_ENDPOINT_URL = moto_server
    settings.S3_REGION = "us-east-1"
    settings.AWS_ACCESS_KEY_ID = "moto-app"
    settings.AWS_SECRET_ACCESS_KEY = SECRET_KEY
    settings.S3_SIGNED_URL_TTL = 120
    client = s3_admin(moto_server)

    def create_bucket():
        client.create_bucket(Bucket=bucket)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/public/*",
                }
            ],
        }
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    class S3:
        pass

    s3 = S3()
    s3.endpoint = moto_server
    s3.bucket = bucket
    s3.client = client
    s3.create_bucket = create_bucket
    create_bucket()
    return s3


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


def png_bytes(size=(320, 200), color=(200, 30, 30), mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


def image_bytes(fmt, size=(320, 200), **options):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, fmt, **options)
    return buffer.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def upload(client, headers, content, url=IMAGES, name="photo.png", **fields):
    file = io.BytesIO(content)
    file.name = name
    extra = fields.pop("extra", {})
    return client.post(url, {"file": file, **fields}, **headers, **extra)


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


def stored_files(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


def object_bytes(s3, key):
    return s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()


def object_exists(s3, key):
    try:
        s3.client.head_object(Bucket=s3.bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"404", "NoSuchKey"}:
            return False
        raise
    return True


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# --- Local storage (no S3 configured) -------------------------------------------------------


def test_staff_upload_is_ready_at_once_and_served_from_local_media(client, staff, product, media):
    content = png_bytes()
    response = upload(client, staff, content, alt_text="A red cup")

    assert response.status_code == 201, response.content
    body = response.json()
    image = ProductImage.objects.get()
    assert body == {
        "id": str(image.id),
        "status": "ready",
        "url": f"http://testserver/media/product-images/{product.tenant_id}/{image.id}/display.webp",
        "width": 320,
        "height": 200,
        "content_type": "image/png",
        "size": len(content),
        "checksum_sha256": sha256(content),
        "position": 0,
        "alt_text": "A red cup",
    }
    assert response["Location"] == f"http://testserver{IMAGES}{image.id}/"
    # The original is kept byte for byte under an unguessable name; the display is WebP.
    assert default_storage.open(image.file_path).read() == content
    assert image.file_path.rsplit("/", 1)[1].startswith("original-")
    display = Image.open(media / f"product-images/{product.tenant_id}/{image.id}/display.webp")
    assert (display.format, display.size) == ("WEBP", (320, 200))
    assert image.storage_key == ""

    listed = client.get(IMAGES)
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert listed.json()["results"] == [body]
    assert client.get(f"{IMAGES}{image.id}/").json() == body


def test_jpeg_orientation_is_applied_and_metadata_kept_out_of_the_display(client, staff, product):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    exif[0x010F] = "SecretCam"  # camera make
    content = image_bytes("JPEG", size=(400, 200), exif=exif.tobytes())

    body = upload(client, staff, content, name="photo.jpg").json()

    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 200, 400)
    image = ProductImage.objects.get()
    assert default_storage.open(image.file_path).read() == content  # untouched original
    display_path = image.file_path.rsplit("/", 1)[0] + "/display.webp"
    display = Image.open(default_storage.open(display_path))
    assert display.size == (200, 400)
    assert dict(display.getexif()) == {}


def test_large_images_get_a_bounded_display_rendition(client, staff, product):
    body = upload(client, staff, image_bytes("WEBP", size=(3200, 1000))).json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/webp", 3200, 1000)
    image = ProductImage.objects.get()
    display = Image.open(default_storage.open(image.file_path.rsplit("/", 1)[0] + "/display.webp"))
    assert display.size == (1600, 500)


def test_positions_default_to_the_end_and_order_the_list(client, staff, product):
    first = upload(client, staff, png_bytes()).json()
    second = upload(client, staff, png_bytes(color=(0, 0, 0))).json()
    front = upload(client, staff, png_bytes(color=(0, 90, 0)), position=0).json()
    assert (first["position"], second["position"], front["position"]) == (0, 1, 0)
    ids = [item["id"] for item in client.get(IMAGES).json()["results"]]
    assert ids == [first["id"], front["id"], second["id"]]  # ties: upload order


def test_changes_announce_the_product(client, staff, product, django_capture_on_commit_callbacks):
    announced = []

    def receiver(tenant_id, product_ids, **kwargs):
        announced.append(set(product_ids))

    events.product_changes.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            created = upload(client, staff, png_bytes()).json()
        with django_capture_on_commit_callbacks(execute=True):
            assert client.delete(f"{IMAGES}{created['id']}/", **staff).status_code == 204
    finally:
        events.product_changes.disconnect(receiver)
    assert announced == [{product.id}, {product.id}]


def test_delete_removes_the_row_and_the_local_files(
    client, staff, product, media, django_capture_on_commit_callbacks
):
    created = upload(client, staff, png_bytes()).json()
    assert len(stored_files(media)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{IMAGES}{created['id']}/", **staff)
    assert response.status_code == 204
    assert not ProductImage.objects.exists()
    assert stored_files(media) == []
    assert client.get(IMAGES).json()["count"] == 0
    problem(client.delete(f"{IMAGES}{created['id']}/", **staff), 404, "not_found")


# --- Checksums ------------------------------------------------------------------------------


def test_checksum_in_header_or_field_is_verified(client, staff, product):
    content = png_bytes()
    header = {"HTTP_X_CHECKSUM_SHA256": sha256(content).upper()}
    assert upload(client, staff, content, extra=header).status_code == 201
    assert upload(client, staff, content, checksum_sha256=sha256(content)).status_code == 201
    both = upload(client, staff, content, checksum_sha256=sha256(content), extra=header)
    assert both.status_code == 201
    assert ProductImage.objects.count() == 3


@pytest.mark.parametrize("where", ["header", "field", "one_of_both"])
def test_checksum_mismatch_stores_nothing(client, staff, product, media, where):
    content = png_bytes()
    wrong = sha256(content + b"x")
    if where == "header":
        response = upload(client, staff, content, extra={"HTTP_X_CHECKSUM_SHA256": wrong})
    elif where == "field":
        response = upload(client, staff, content, checksum_sha256=wrong)
    else:
        response = upload(
            client,
            staff,
            content,
            checksum_sha256=sha256(content),
            extra={"HTTP_X_CHECKSUM_SHA256": wrong},
        )
    problem(response, 400, "checksum_mismatch")
    assert not ProductImage.objects.exists()
    assert stored_files(media) == []


def test_malformed_checksums_are_validation_errors(client, staff, product, media):
    content = png_bytes()
    body = problem(
        upload(client, staff, content, extra={"HTTP_X_CHECKSUM_SHA256": "abc"}),
        400,
        "validation_error",
    )
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("X-Checksum-SHA256", "invalid")]
    body = problem(
        upload(client, staff, content, checksum_sha256="zz" * 32), 400, "validation_error"
    )
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("checksum_sha256", "invalid")]
    assert not ProductImage.objects.exists()
    assert stored_files(media) == []


# --- Formats and limits ---------------------------------------------------------------------


def png_claiming(width, height):
    """A PNG whose header claims `width` x `height` pixels (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


BAD_FILES = [
    ("text", b"name,price\ncup,12.50\n", "invalid_image"),
    ("truncated_jpeg", image_bytes("JPEG", size=(600, 400))[:600], "invalid_image"),
    ("truncated_png", png_bytes(size=(600, 400))[:60], "invalid_image"),
    ("gif", image_bytes("GIF"), "unsupported_format"),
    ("bmp", image_bytes("BMP"), "unsupported_format"),
    ("tiff", image_bytes("TIFF"), "unsupported_format"),
    ("too_wide", png_claiming(12_000, 10), "image_too_large"),
    ("too_many_pixels", png_claiming(9_000, 9_000), "image_too_large"),
]


@pytest.mark.parametrize(("kind", "content", "code"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused_and_nothing_is_stored(
    client, staff, product, media, kind, content, code
):
    problem(upload(client, staff, content, name="photo.jpg"), 400, code)
    assert not ProductImage.objects.exists()
    assert stored_files(media) == []


def test_files_above_the_byte_limit_are_refused(client, staff, product, media, monkeypatch):
    monkeypatch.setattr("emporium.catalog.images.PRODUCT_IMAGE_MAX_BYTES", 2000)
    problem(upload(client, staff, image_bytes("BMP", size=(100, 100))), 400, "image_too_large")
    assert not ProductImage.objects.exists()
    assert stored_files(media) == []


def test_a_missing_or_empty_file_is_a_validation_error(client, staff, product):
    body = problem(client.post(IMAGES, {"alt_text": "x"}, **staff), 400, "validation_error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("file", "required")]
    body = problem(upload(client, staff, b""), 400, "validation_error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("file", "empty")]


def test_demo_image_bytes_are_a_deterministic_acceptable_png(client, staff, product):
    content = demo_image_bytes(7, "Espresso Cup")
    assert content == demo_image_bytes(7, "Espresso Cup")
    assert content != demo_image_bytes(8, "Espresso Cup")
    body = upload(client, staff, content).json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/png", 400, 300)


# --- Access ---------------------------------------------------------------------------------


def test_only_staff_may_upload_or_delete(client, staff, customer, product, media):
    anonymous = upload(client, {}, png_bytes())
    problem(anonymous, 401, "not_authenticated")
    problem(upload(client, customer, png_bytes()), 403, "permission_denied")
    assert not ProductImage.objects.exists()
    assert stored_files(media) == []

    created = upload(client, staff, png_bytes()).json()
    url = f"{IMAGES}{created['id']}/"
    problem(client.delete(url), 401, "not_authenticated")
    problem(client.delete(url, **customer), 403, "permission_denied")
    assert ProductImage.objects.filter(id=created["id"]).exists()


def test_unknown_product_is_404(client, staff):
    problem(
        upload(client, staff, png_bytes(), url="/api/v1/products/nope/images/"), 404, "not_found"
    )
    problem(client.get("/api/v1/products/nope/images/"), 404, "not_found")


def test_hidden_products_and_unfinished_images_are_staff_only(client, staff, customer, product):
    ready = upload(client, staff, png_bytes()).json()
    failed = upload(client, staff, png_bytes(color=(1, 2, 3))).json()
    ProductImage.objects.filter(id=failed["id"]).update(status="failed")

    assert [i["id"] for i in client.get(IMAGES, **customer).json()["results"]] == [ready["id"]]
    problem(client.get(f"{IMAGES}{failed['id']}/", **customer), 404, "not_found")
    staff_view = client.get(IMAGES, **staff).json()["results"]
    assert [(i["id"], i["status"]) for i in staff_view] == [
        (ready["id"], "ready"),
        (failed["id"], "failed"),
    ]

    services.product_update(product=product, data={"is_active": False})
    problem(client.get(IMAGES), 404, "not_found")
    problem(client.get(IMAGES, **customer), 404, "not_found")
    assert client.get(IMAGES, **staff).json()["count"] == 2


# --- Signed links to the original, kept locally ---------------------------------------------


def test_staff_get_a_signed_local_link_to_the_original(client, staff, customer, product):
    content = png_bytes()
    created = upload(client, staff, content).json()
    original = f"{IMAGES}{created['id']}/original/"

    problem(client.get(original), 401, "not_authenticated")
    problem(client.get(original, **customer), 403, "permission_denied")

    redirect = client.get(original, **staff)
    assert redirect.status_code == 302
    assert redirect["Cache-Control"] == "private, no-store"
    link = redirect["Location"]
    assert link.startswith(f"http://testserver{IMAGES}{created['id']}/original/download/?")

    # A capability: works without credentials, as an attachment with the original bytes.
    response = client.get(path_of(link))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == content


def test_local_links_refuse_bad_and_expired_signatures(client, staff, product):
    created = upload(client, staff, png_bytes()).json()
    # Signed at a whole second: the link's age is then exact, however slow the machine.
    signed_at = timezone.now().replace(microsecond=0)
    with freeze_time(signed_at):
        link = path_of(client.get(f"{IMAGES}{created['id']}/original/", **staff)["Location"])
    download = link.split("?")[0]
    signature = parse_qs(urlsplit(link).query)["signature"][0]

    problem(client.get(download), 403, "signature_invalid")
    problem(client.get(f"{download}?signature={signature[:-2]}xx"), 403, "signature_invalid")
    other = upload(client, staff, png_bytes(color=(0, 0, 0))).json()
    problem(
        client.get(f"{IMAGES}{other['id']}/original/download/?signature={signature}"),
        403,
        "signature_invalid",
    )
    with freeze_time(signed_at + timedelta(seconds=899)):
        assert client.get(link).status_code == 200
    with freeze_time(signed_at + timedelta(seconds=901)):  # S3_SIGNED_URL_TTL is 900
        problem(client.get(link), 403, "signature_expired")

    ProductImage.objects.filter(id=created["id"]).delete()
    problem(client.get(link), 404, "not_found")


# --- Tenant isolation -----------------------------------------------------------------------


@pytest.fixture
def shop_b_staff(settings, make_user, bearer):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST_B]
    shop_b = TenantDomainFactory(domain=HOST_B).tenant
    with tenant_context(shop_b.id):
        return shop_b, bearer(make_user(email="staff-b@example.com", is_staff=True))


def test_another_shop_cannot_see_or_touch_the_images(client, staff, product, shop_b_staff, media):
    shop_b, staff_b = shop_b_staff
    created = upload(client, staff, png_bytes()).json()
    link = path_of(client.get(f"{IMAGES}{created['id']}/original/", **staff)["Location"])
    host = {"HTTP_HOST": HOST_B}

    problem(client.get(IMAGES, **host), 404, "not_found")
    problem(client.get(f"{IMAGES}{created['id']}/", **staff_b, **host), 404, "not_found")
    problem(client.delete(f"{IMAGES}{created['id']}/", **staff_b, **host), 404, "not_found")
    problem(client.get(f"{IMAGES}{created['id']}/original/", **staff_b, **host), 404, "not_found")
    problem(client.get(link, **host), 404, "not_found")  # a valid link, the wrong shop
    problem(upload(client, staff_b, png_bytes(), extra=host), 404, "not_found")
    assert ProductImage.unscoped.count() == 1

    # Shop B's product of the same slug has its own images.
    with tenant_context(shop_b.id):
        services.product_create(name="Espresso Cup", sku="B-1", price=Decimal("1"), currency="EUR")
    own = upload(client, staff_b, png_bytes(), extra=host)
    assert own.status_code == 201
    assert own.json()["url"].startswith(f"http://{HOST_B}/media/product-images/{shop_b.id}/")
    assert [i["id"] for i in client.get(IMAGES, **host).json()["results"]] == [own.json()["id"]]
    assert [i["id"] for i in client.get(IMAGES).json()["results"]] == [created["id"]]


# --- S3 storage -----------------------------------------------------------------------------


def upload_to_s3(client, staff, capture, content, **fields):
    """POST an image and run the upload task after the commit, as the worker would."""
    with capture(execute=True):
        response = upload(client, staff, content, **fields)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    return response.json()


def test_upload_is_copied_to_the_bucket_with_its_checksum(
    client, staff, product, media, s3, http, django_capture_on_commit_callbacks
):
    content = image_bytes("JPEG", size=(640, 480))
    created = upload_to_s3(
        client,
        staff,
        django_capture_on_commit_callbacks,
        content,
        extra={"HTTP_X_CHECKSUM_SHA256": sha256(content)},
    )

    image = ProductImage.objects.get()
    assert image.status == "ready"
    assert image.attempts == 1
    assert image.uploaded_at is not None
    prefix = f"product-images/{image.tenant_id}/{image.id}"
    assert image.storage_key == f"private/{prefix}/original.jpg"
    assert object_bytes(s3, image.storage_key) == content
    head = s3.client.head_object(Bucket=s3.bucket, Key=image.storage_key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert head["ContentType"] == "image/jpeg"
    # The local copies are gone once the bucket has them.
    assert stored_files(media) == []

    body = client.get(f"{IMAGES}{created['id']}/").json()
    display_url = f"{s3.endpoint}/{s3.bucket}/public/{prefix}/display.webp"
    assert body["status"] == "ready"
    assert body["url"] == display_url
    assert body["checksum_sha256"] == sha256(content)
    # Anyone can fetch the display rendition; the original needs a signed link.
    public = http.get(display_url)
    assert public.status_code == 200
    assert Image.open(io.BytesIO(public.content)).format == "WEBP"
    assert public.content == object_bytes(s3, f"public/{prefix}/display.webp")
    assert http.get(f"{s3.endpoint}/{s3.bucket}/{image.storage_key}").status_code == 403

    # Running the task again changes nothing.
    assert upload_product_image.delay(str(image.id)).get() == "ready"
    image.refresh_from_db()
    assert image.attempts == 1


def test_public_base_url_points_the_display_at_the_cdn(
    client, staff, product, s3, settings, django_capture_on_commit_callbacks
):
    settings.S3_PUBLIC_BASE_URL = "https://cdn.shop.test/images/"
    created = upload_to_s3(client, staff, django_capture_on_commit_callbacks, png_bytes())
    image = ProductImage.objects.get()
    assert client.get(f"{IMAGES}{created['id']}/").json()["url"] == (
        f"https://cdn.shop.test/images/public/product-images/{image.tenant_id}/{image.id}"
        "/display.webp"
    )


def test_pending_images_are_hidden_from_customers(client, staff, customer, product, s3, settings):
    # No commit callbacks run: the upload task never starts and the image stays pending.
    created = upload(client, staff, png_bytes())
    assert created.json()["status"] == "pending"
    assert created.json()["url"].startswith("http://testserver/media/product-images/")
    assert client.get(IMAGES, **customer).json()["count"] == 0
    assert client.get(IMAGES, **staff).json()["results"][0]["status"] == "pending"


def test_a_failed_upload_is_retried_until_it_succeeds(
    client, staff, product, s3, django_capture_on_commit_callbacks
):
    s3.client.delete_bucket_policy(Bucket=s3.bucket)
    s3.client.delete_bucket(Bucket=s3.bucket)
    retries = []

    def bucket_appears(sender=None, reason=None, **kwargs):
        retries.append(str(reason))
        if len(retries) == 2:
            s3.create_bucket()

    signals.task_retry.connect(bucket_appears)
    try:
        created = upload_to_s3(client, staff, django_capture_on_commit_callbacks, png_bytes())
    finally:
        signals.task_retry.disconnect(bucket_appears)

    assert len(retries) == 2
    assert all("NoSuchBucket" in reason for reason in retries)
    image = ProductImage.objects.get(id=created["id"])
    assert (image.status, image.attempts, image.last_error) == ("ready", 3, "")
    assert object_exists(s3, image.storage_key)
    assert client.get(f"{IMAGES}{created['id']}/").json()["status"] == "ready"


def test_an_upload_failing_every_retry_ends_failed(
    client, staff, customer, product, media, s3, django_capture_on_commit_callbacks
):
    s3.client.delete_bucket_policy(Bucket=s3.bucket)
    s3.client.delete_bucket(Bucket=s3.bucket)

    created = upload_to_s3(client, staff, django_capture_on_commit_callbacks, png_bytes())

    image = ProductImage.objects.get(id=created["id"])
    assert image.status == "failed"
    assert image.attempts == upload_product_image.max_retries + 1
    assert image.last_error == "put_object: NoSuchBucket"
    assert SECRET_KEY not in image.last_error
    assert image.storage_key == ""
    assert len(stored_files(media)) == 2  # kept locally for a later attempt
    assert client.get(f"{IMAGES}{created['id']}/", **staff).json()["status"] == "failed"
    assert client.get(IMAGES, **customer).json()["count"] == 0

    # Once the bucket exists, running the task again finishes the job.
    s3.create_bucket()
    with django_capture_on_commit_callbacks(execute=True):
        assert upload_product_image.delay(created["id"]).get() == "ready"
    image.refresh_from_db()
    assert (image.status, image.last_error) == ("ready", "")
    assert stored_files(media) == []


def test_a_missing_local_file_fails_without_retrying(
    client, staff, product, media, s3, django_capture_on_commit_callbacks
):
    created = upload(client, staff, png_bytes()).json()
    image = ProductImage.objects.get(id=created["id"])
    default_storage.delete(image.file_path)
    with django_capture_on_commit_callbacks(execute=True):
        upload_product_image.delay(created["id"])
    image.refresh_from_db()
    assert (image.status, image.attempts, image.last_error) == ("failed", 1, "FileNotFoundError")


def test_staff_get_a_presigned_link_to_the_original_on_s3(
    client, staff, customer, product, s3, http, django_capture_on_commit_callbacks
):
    content = image_bytes("JPEG", size=(640, 480))
    created = upload_to_s3(client, staff, django_capture_on_commit_callbacks, content)
    original = f"{IMAGES}{created['id']}/original/"
    problem(client.get(original, **customer), 403, "permission_denied")

    before = timezone.now().replace(microsecond=0)
    redirect = client.get(original, **staff)
    assert redirect.status_code == 302
    location = redirect["Location"]
    image = ProductImage.objects.get()
    assert location.startswith(f"{s3.endpoint}/{s3.bucket}/{image.storage_key}?")
    # moto serves presigned URLs without enforcing their expiry, so the expiry is checked in
    # the signed parameters (X-Amz-Expires is covered by the signature on real S3).
    params = parse_qs(urlsplit(location).query)
    assert params["X-Amz-Expires"] == ["120"]
    signed_at = datetime.strptime(params["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    assert signed_at.replace(tzinfo=UTC) >= before
    assert SECRET_KEY not in location

    fetched = http.get(location)
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["content-disposition"] == (
        f'attachment; filename="product-image-{image.id}.jpg"'
    )

    # A local link made before the upload finished now leads to the storage.
    from emporium.catalog import services_images

    signature = services_images.product_image_original_signature(image=image)
    moved = client.get(f"{original}download/?signature={signature}")
    assert moved.status_code == 302
    assert moved["Location"].startswith(f"{s3.endpoint}/{s3.bucket}/{image.storage_key}?")


def test_deleting_an_uploaded_image_removes_its_objects(
    client, staff, product, s3, django_capture_on_commit_callbacks
):
    created = upload_to_s3(client, staff, django_capture_on_commit_callbacks, png_bytes())
    image = ProductImage.objects.get()
    keys = [image.storage_key, f"public/product-images/{image.tenant_id}/{image.id}/display.webp"]
    assert all(object_exists(s3, key) for key in keys)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"{IMAGES}{created['id']}/", **staff).status_code == 204

    assert not ProductImage.objects.exists()
    assert not any(object_exists(s3, key) for key in keys)
