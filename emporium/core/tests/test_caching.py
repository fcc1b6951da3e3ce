"""ETag, Last-Modified, Cache-Control, Vary and conditional GET on cached reads."""

import gzip
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import include, path
from django.utils.http import http_date
from rest_framework import serializers, viewsets
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from emporium.accounts.services import user_create
from emporium.core.caching import CachedReadMixin, cache_headers
from tests.factories import NoteFactory
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
VARY = {"accept", "accept-language", "accept-encoding", "authorization", "cookie"}


class CountingNoteSerializer(serializers.ModelSerializer):
    """Counts serializations, to prove which responses never render the object."""

    calls = 0

    class Meta:
        model = Note
        fields = ["id", "slug", "body", "updated_at"]

    def to_representation(self, instance):
        type(self).calls += 1
        return super().to_representation(instance)


class CachedNoteViewSet(CachedReadMixin, viewsets.ModelViewSet):
    serializer_class = CountingNoteSerializer
    permission_classes = [AllowAny]
    throttle_classes = []  # counters would add cache queries to the query counts below

    def get_queryset(self):
        return Note.objects.all()


class SeededNoteViewSet(CachedNoteViewSet):
    def get_etag_seed(self, obj):
        return f"{obj.pk}:{obj.updated_at.isoformat()}"


class PrivateNoteViewSet(CachedNoteViewSet):
    cache_public = False


@cache_headers(max_age=300)
@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([])
def note_count(request):
    return Response({"count": Note.objects.count()})


router = SimpleRouter()
router.register("notes", CachedNoteViewSet, basename="cached-note")
router.register("seeded-notes", SeededNoteViewSet, basename="seeded-note")
router.register("private-notes", PrivateNoteViewSet, basename="private-note")

urlpatterns = [
    path("cache-test/", include(router.urls)),
    path("cache-test/count/", note_count),
    path("", include("config.urls")),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.GZIP_MIN_BYTES = 1024
    CountingNoteSerializer.calls = 0


@pytest.fixture
def note():
    return NoteFactory(slug="teapot", body="short and stout")


def _detail(note, kind="notes"):
    return f"/cache-test/{kind}/{note.pk}/"


def _vary(response):
    return {v.strip().lower() for v in response.get("Vary", "").split(",") if v.strip()}


def _directives(response):
    return {d.strip() for d in response.get("Cache-Control", "").split(",") if d.strip()}


def _assert_not_modified(response, etag=None):
    assert response.status_code == 304
    assert response.content == b""
    if etag is not None:
        assert response["ETag"] == etag
    assert {"public", "max-age=60"} <= _directives(response)
    assert _vary(response) >= VARY


def test_anonymous_read_is_public_with_weak_etag_and_last_modified(client, note):
    response = client.get(_detail(note))
    assert response.status_code == 200
    assert response["ETag"].startswith('W/"')
    assert _directives(response) == {"public", "max-age=60"}
    assert _vary(response) >= VARY
    note.refresh_from_db()
    assert response["Last-Modified"] == http_date(note.updated_at.timestamp())


def test_etag_is_stable_and_changes_with_the_object(client, note):
    first = client.get(_detail(note))["ETag"]
    assert client.get(_detail(note))["ETag"] == first

    note.body = "tall and thin"
    note.save()
    assert client.get(_detail(note))["ETag"] != first


def test_etag_differs_per_language(client, note):
    english = client.get(_detail(note), HTTP_ACCEPT_LANGUAGE="en")["ETag"]
    german = client.get(_detail(note), HTTP_ACCEPT_LANGUAGE="de")["ETag"]
    assert english != german


@pytest.mark.parametrize(
    "if_none_match",
    [
        "{etag}",  # as sent
        "{strong}",  # weak comparison: the strong form matches too
        "*",
        '"stale", {etag}, "other"',
    ],
    ids=["weak", "strong-form", "star", "list"],
)
def test_if_none_match_gives_304(client, note, if_none_match):
    etag = client.get(_detail(note))["ETag"]
    header = if_none_match.format(etag=etag, strong=etag.removeprefix("W/"))
    _assert_not_modified(client.get(_detail(note), HTTP_IF_NONE_MATCH=header), etag)


def test_if_none_match_with_old_etag_gives_the_new_representation(client, note):
    old = client.get(_detail(note))["ETag"]
    Note.objects.filter(pk=note.pk).update(body="changed")
    response = client.get(_detail(note), HTTP_IF_NONE_MATCH=old)
    assert response.status_code == 200
    assert response.json()["body"] == "changed"
    assert response["ETag"] != old


def test_if_modified_since(client, note):
    note.refresh_from_db()
    updated = note.updated_at
    older = client.get(_detail(note), HTTP_IF_MODIFIED_SINCE=http_date(updated.timestamp() - 1))
    assert older.status_code == 200
    assert older.json()["slug"] == "teapot"

    equal = client.get(_detail(note), HTTP_IF_MODIFIED_SINCE=http_date(updated.timestamp()))
    _assert_not_modified(equal)
    assert equal["Last-Modified"] == http_date(updated.timestamp())
    newer = client.get(_detail(note), HTTP_IF_MODIFIED_SINCE=http_date(updated.timestamp() + 3600))
    _assert_not_modified(newer)


def test_if_none_match_takes_precedence_over_if_modified_since(client, note):
    note.refresh_from_db()
    etag = client.get(_detail(note))["ETag"]
    future = http_date(note.updated_at.timestamp() + 3600)
    past = http_date(note.updated_at.timestamp() - 3600)

    stale_etag = client.get(
        _detail(note), HTTP_IF_NONE_MATCH='W/"stale"', HTTP_IF_MODIFIED_SINCE=future
    )
    assert stale_etag.status_code == 200
    fresh_etag = client.get(_detail(note), HTTP_IF_NONE_MATCH=etag, HTTP_IF_MODIFIED_SINCE=past)
    _assert_not_modified(fresh_etag, etag)


def test_if_match_mismatch_is_412_problem(client, note):
    response = client.get(_detail(note), HTTP_IF_MATCH='"not-this-one"')
    assert response.status_code == 412
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "precondition_failed"


def test_list_last_modified_is_the_newest_item_on_the_page(client):
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    notes = NoteFactory.create_batch(3)
    for offset, item in zip([5, 60, 30], notes, strict=True):
        Note.objects.filter(pk=item.pk).update(updated_at=base + timedelta(minutes=offset))

    response = client.get("/cache-test/notes/")
    assert response.status_code == 200
    assert response["Last-Modified"] == http_date((base + timedelta(minutes=60)).timestamp())
    etag = response["ETag"]

    _assert_not_modified(client.get("/cache-test/notes/", HTTP_IF_NONE_MATCH=etag), etag)
    since_newest = http_date((base + timedelta(minutes=60)).timestamp())
    _assert_not_modified(client.get("/cache-test/notes/", HTTP_IF_MODIFIED_SINCE=since_newest))
    # The second page has only older items.
    page_two = client.get("/cache-test/notes/?page=2&page_size=2")
    assert page_two["Last-Modified"] == http_date((base + timedelta(minutes=30)).timestamp())

    Note.objects.filter(pk=notes[0].pk).update(body="edited", updated_at=base + timedelta(hours=2))
    assert client.get("/cache-test/notes/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_authenticated_user_gets_private_no_store(client, note):
    user = user_create(email="ada@example.com", password="correct-horse-9")
    client.force_login(user)
    response = client.get(_detail(note))
    assert response.status_code == 200
    assert _directives(response) == {"private", "no-store"}
    etag = response["ETag"]
    # A client keeping its own copy can still revalidate.
    not_modified = client.get(_detail(note), HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert _directives(not_modified) == {"private", "no-store"}


def test_private_view_is_private_for_anonymous_users(client, note):
    response = client.get(_detail(note, "private-notes"))
    assert response.status_code == 200
    assert _directives(response) == {"private", "no-store"}
    assert response["ETag"].startswith('W/"')


def test_head_has_the_same_validators_and_no_body(client, note):
    get = client.get(_detail(note))
    head = client.head(_detail(note))
    assert head.status_code == 200
    assert head.content == b""
    assert head["ETag"] == get["ETag"]
    assert head["Last-Modified"] == get["Last-Modified"]
    assert _directives(head) == {"public", "max-age=60"}
    _assert_not_modified(client.head(_detail(note), HTTP_IF_NONE_MATCH=get["ETag"]), get["ETag"])


def test_if_modified_since_304_does_not_serialize(
    client, note, django_assert_num_queries, django_assert_max_num_queries
):
    note.refresh_from_db()
    since = http_date(note.updated_at.timestamp())
    client.get(_detail(note))  # first request of the test: tenant lookups are warm afterwards
    CountingNoteSerializer.calls = 0

    with django_assert_max_num_queries(10) as full:
        assert client.get(_detail(note)).status_code == 200
    assert CountingNoteSerializer.calls == 1
    with django_assert_num_queries(len(full.captured_queries)) as conditional:
        response = client.get(_detail(note), HTTP_IF_MODIFIED_SINCE=since)
    _assert_not_modified(response)
    note_queries = [q["sql"] for q in conditional.captured_queries if "testapp_note" in q["sql"]]
    assert len(note_queries) == 1  # the object fetch, and nothing else of the note
    assert CountingNoteSerializer.calls == 1  # the 304 fetched the object and stopped there


def test_etag_seed_decides_if_none_match_before_serializing(client, note):
    response = client.get(_detail(note, "seeded-notes"))
    assert response.status_code == 200
    etag = response["ETag"]
    assert etag.startswith('W/"')
    assert client.get(_detail(note, "seeded-notes"))["ETag"] == etag
    CountingNoteSerializer.calls = 0

    _assert_not_modified(client.get(_detail(note, "seeded-notes"), HTTP_IF_NONE_MATCH=etag), etag)
    assert CountingNoteSerializer.calls == 0

    note.body = "changed"
    note.save()
    changed = client.get(_detail(note, "seeded-notes"), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_errors_and_writes_get_no_cache_headers(client, note):
    missing = client.get("/cache-test/notes/01a21727-b52a-769d-9d4c-95a1ae68e835/")
    assert missing.status_code == 404
    assert not missing.has_header("ETag")
    assert "public" not in _directives(missing)

    update = client.patch(_detail(note), {"body": "new"}, content_type="application/json")
    assert update.status_code == 200
    assert not update.has_header("ETag")
    assert "public" not in _directives(update)


def test_decorator_on_a_function_view(client, note):
    response = client.get("/cache-test/count/")
    assert response.status_code == 200
    assert response.json() == {"count": 1}
    assert _directives(response) == {"public", "max-age=300"}
    assert _vary(response) >= VARY
    etag = response["ETag"]
    not_modified = client.get("/cache-test/count/", HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == etag

    NoteFactory()
    assert client.get("/cache-test/count/", HTTP_IF_NONE_MATCH=etag).json() == {"count": 2}


def test_decorator_sees_the_drf_user(client):
    client.force_login(user_create(email="ada@example.com", password="correct-horse-9"))
    response = client.get("/cache-test/count/")
    assert _directives(response) == {"private", "no-store"}


def test_gzip_keeps_the_etag_and_revalidates(client):
    NoteFactory.create_batch(10, body="A long and very compressible description. " * 10)
    plain = client.get("/cache-test/notes/")
    assert not plain.has_header("Content-Encoding")
    zipped = client.get("/cache-test/notes/", HTTP_ACCEPT_ENCODING="gzip")
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content
    assert zipped["ETag"] == plain["ETag"]

    not_modified = client.get(
        "/cache-test/notes/", HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=zipped["ETag"]
    )
    _assert_not_modified(not_modified, plain["ETag"])
    assert not not_modified.has_header("Content-Encoding")
