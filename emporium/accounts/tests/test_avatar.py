"""Avatars: `PUT/DELETE me/avatar/`, formats decided from the content, untrusted images refused."""

import io
import os
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import ExifTags, Image

from emporium.accounts.models import Avatar

pytestmark = pytest.mark.django_db

AVATAR = "/api/v1/me/avatar/"
ME = "/api/v1/me/"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com")


def image_bytes(fmt, size=(200, 100), mode="RGB", color=(200, 30, 30), **options):
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **options)
    return buffer.getvalue()


def noise_bytes(fmt, size, **options):
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming(width, height):
    """A tiny PNG whose header claims `width` x `height` pixels (its pixel data is truncated)."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def upload(client, headers, content, name="avatar.png", content_type="image/png"):
    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(name, content, content_type)})
    return client.put(AVATAR, body, content_type=MULTIPART_CONTENT, **headers)


def stored(path):
    with default_storage.open(path) as file:
        image = Image.open(io.BytesIO(file.read()))
        image.load()
    return image


def stored_files(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("JPEG", "RGB", {"quality": 90}),
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("WEBP", "RGB", {"quality": 80}),
    ],
)
def test_jpeg_png_and_webp_are_accepted_and_re_encoded(client, bearer, ada, fmt, mode, options):
    color = (10, 120, 200, 128) if mode == "RGBA" else (10, 120, 200)
    content = image_bytes(fmt, size=(1024, 600), mode=mode, color=color, **options)
    response = upload(client, bearer(ada), content)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["width"], body["height"]) == (512, 300)

    avatar = Avatar.objects.get(user=ada)
    prefix = f"avatars/{ada.tenant_id}/{ada.id}/"
    assert avatar.image_path.startswith(prefix)
    assert avatar.image_path.endswith(".webp")
    assert avatar.thumbnail_path.startswith(prefix)
    image, thumbnail = stored(avatar.image_path), stored(avatar.thumbnail_path)
    assert (image.format, image.size) == ("WEBP", (512, 300))
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (128, 128))
    assert image.mode == ("RGBA" if mode == "RGBA" else "RGB")

    profile = client.get(ME, **bearer(ada)).json()
    assert profile["avatar"] == body
    assert body["url"] == f"http://testserver/media/{avatar.image_path}"
    assert body["thumbnail_url"] == f"http://testserver/media/{avatar.thumbnail_path}"


def test_small_images_are_not_enlarged(client, bearer, ada):
    response = upload(client, bearer(ada), image_bytes("PNG", size=(64, 64)))
    assert response.status_code == 200
    assert (response.json()["width"], response.json()["height"]) == (64, 64)
    assert stored(Avatar.objects.get(user=ada).thumbnail_path).size == (128, 128)


def test_exif_is_removed_and_orientation_applied(client, bearer, ada):
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Spy Camera"
    exif[ExifTags.Base.Orientation] = 6  # rotate 90 degrees clockwise to display
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 18.0)
    content = image_bytes("JPEG", size=(300, 200), exif=exif)
    # The upload really carries the location.
    assert Image.open(io.BytesIO(content)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    response = upload(client, bearer(ada), content, name="holiday.jpg", content_type="image/jpeg")
    assert response.status_code == 200, response.content

    avatar = Avatar.objects.get(user=ada)
    for path in (avatar.image_path, avatar.thumbnail_path):
        raw = default_storage.open(path).read()
        image = stored(path)
        assert "exif" not in image.info
        assert not image.getexif()
        assert b"Spy Camera" not in raw
        assert b"Exif" not in raw
    # Portrait now: the orientation was applied to the pixels.
    assert stored(avatar.image_path).size == (200, 300)


def test_format_is_decided_from_the_content_not_the_name(client, bearer, ada):
    png = image_bytes("PNG")
    response = upload(client, bearer(ada), png, name="photo.jpg", content_type="image/jpeg")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (image_bytes("GIF", mode="P", color=1), "avatar.png", "image/png"),
        (image_bytes("BMP"), "avatar.jpg", "image/jpeg"),
        (b"just some text, not an image\n" * 10, "avatar.png", "image/png"),
        (b"\x89PNG\r\n\x1a\n" + os.urandom(2000), "avatar.png", "image/png"),
    ],
    ids=["gif-named-png", "bmp", "text-named-png", "garbage-after-png-signature"],
)
def test_other_formats_are_refused(client, bearer, ada, media, content, name, content_type):
    response = upload(client, bearer(ada), content, name=name, content_type=content_type)
    assert_problem(response, 400, "avatar_bad_format")
    assert not Avatar.objects.exists()
    assert stored_files(media) == []


def test_truncated_image_is_refused(client, bearer, ada, media):
    content = noise_bytes("JPEG", (300, 300), quality=90)
    response = upload(client, bearer(ada), content[: len(content) * 2 // 3])
    assert_problem(response, 400, "avatar_bad_format")
    assert stored_files(media) == []


def test_file_over_two_megabytes_is_refused(client, bearer, ada, media):
    content = noise_bytes("PNG", (1000, 1000))  # a real image, about 3 MB
    assert len(content) > 2 * 1024 * 1024
    response = upload(client, bearer(ada), content)
    assert_problem(response, 413, "avatar_too_large")
    assert not Avatar.objects.exists()
    assert stored_files(media) == []


def test_size_is_checked_before_the_content(client, bearer, ada):
    response = upload(client, bearer(ada), b"x" * (2 * 1024 * 1024 + 1), name="a.txt")
    assert_problem(response, 413, "avatar_too_large")


@pytest.mark.parametrize("size", [(63, 200), (200, 63), (4097, 100), (100, 4097)], ids=str)
def test_dimensions_out_of_range_are_refused(client, bearer, ada, size):
    response = upload(client, bearer(ada), image_bytes("PNG", size=size, mode="L", color=0))
    assert_problem(response, 400, "avatar_dimensions")
    assert not Avatar.objects.exists()


def test_largest_allowed_dimensions_are_accepted(client, bearer, ada):
    response = upload(client, bearer(ada), image_bytes("PNG", size=(4096, 64), mode="L", color=0))
    assert response.status_code == 200
    assert (response.json()["width"], response.json()["height"]) == (512, 8)


@pytest.mark.parametrize(
    "claimed",
    [(5000, 5000), (10_000, 10_000), (30_000, 30_000)],
    ids=["over-avatar-limit", "over-pillow-warning", "over-pillow-error"],
)
def test_decompression_bomb_is_refused_from_its_header(client, bearer, ada, media, claimed):
    content = png_claiming(*claimed)
    assert len(content) < 200
    response = upload(client, bearer(ada), content)
    # Decoding the (truncated) pixels would have failed as avatar_bad_format: the header
    # alone decided, nothing was decoded or allocated.
    assert_problem(response, 400, "avatar_dimensions")
    assert stored_files(media) == []


def test_replacing_deletes_the_old_files(
    client, bearer, ada, media, django_capture_on_commit_callbacks
):
    headers = bearer(ada)
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(client, headers, image_bytes("PNG")).status_code == 200
    first = Avatar.objects.get(user=ada)
    old_paths = [first.image_path, first.thumbnail_path]

    with django_capture_on_commit_callbacks(execute=True):
        assert upload(client, headers, image_bytes("JPEG", size=(300, 300))).status_code == 200
    second = Avatar.objects.get(user=ada)
    new_paths = [second.image_path, second.thumbnail_path]
    assert second.id == first.id
    assert not set(old_paths) & set(new_paths)
    assert stored_files(media) == sorted(new_paths)
    assert not any(default_storage.exists(path) for path in old_paths)


def test_a_refused_upload_keeps_the_current_avatar(client, bearer, ada, media):
    headers = bearer(ada)
    assert upload(client, headers, image_bytes("PNG")).status_code == 200
    before = stored_files(media)
    assert_problem(upload(client, headers, png_claiming(30_000, 30_000)), 400, "avatar_dimensions")
    assert stored_files(media) == before
    assert Avatar.objects.get(user=ada).image_path in before


def test_delete_removes_files_and_row(
    client, bearer, ada, media, django_capture_on_commit_callbacks
):
    headers = bearer(ada)
    assert upload(client, headers, image_bytes("PNG")).status_code == 200
    assert len(stored_files(media)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(AVATAR, **headers)
    assert response.status_code == 204
    assert not Avatar.objects.exists()
    assert stored_files(media) == []
    assert client.get(ME, **headers).json()["avatar"] is None
    # Deleting again is fine: there is nothing left to delete.
    assert client.delete(AVATAR, **headers).status_code == 204


def test_customers_only_touch_their_own_avatar(client, bearer, ada, make_user):
    grace = make_user(email="grace@example.com")
    assert upload(client, bearer(ada), image_bytes("PNG")).status_code == 200
    assert client.delete(AVATAR, **bearer(grace)).status_code == 204
    assert Avatar.objects.filter(user=ada).exists()
    assert client.get(ME, **bearer(grace)).json()["avatar"] is None


def test_missing_file_field(client, bearer, ada):
    body = encode_multipart(BOUNDARY, {"image": "nothing"})
    response = client.put(AVATAR, body, content_type=MULTIPART_CONTENT, **bearer(ada))
    assert_problem(response, 400, "validation_error")
    assert response.json()["errors"][0]["field"] == "file"


def test_only_multipart_is_accepted(client, bearer, ada):
    response = client.put(AVATAR, image_bytes("PNG"), content_type="image/png", **bearer(ada))
    assert_problem(response, 415, "unsupported_media_type")


def test_anonymous_is_refused(client):
    assert_problem(upload(client, {}, image_bytes("PNG")), 401, "not_authenticated")
    assert_problem(client.delete(AVATAR), 401, "not_authenticated")
