"""UUIDv7 keys, timestamps and soft delete on the base models."""

import time

import pytest
from django.db import IntegrityError, transaction

from emporium.core.ids import uuid7
from tests.factories import NoteFactory
from tests.testapp.models import Note


def test_uuid7_keys_are_unique_and_time_ordered():
    ids = [uuid7() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert {i.version for i in ids} == {7}
    later = (time.sleep(0.002), uuid7())[1]
    assert later > ids[-1]


@pytest.mark.django_db
def test_rows_get_uuid7_keys_in_creation_order():
    notes = [NoteFactory() for _ in range(20)]
    assert all(n.id.version == 7 for n in notes)
    assert [n.id for n in Note.objects.order_by("id")] == [n.id for n in notes]
    assert notes[0].created_at <= notes[-1].created_at
    assert notes[0].updated_at is not None


@pytest.mark.django_db
def test_soft_delete_hides_and_restore_brings_back():
    note = NoteFactory(slug="spring")
    note.delete()
    assert note.is_deleted
    assert not Note.objects.filter(id=note.id).exists()
    assert Note.all_objects.filter(id=note.id).exists()
    assert Note.all_objects.get(id=note.id).deleted_at is not None

    note.restore()
    assert Note.objects.filter(id=note.id, deleted_at__isnull=True).exists()


@pytest.mark.django_db
def test_queryset_delete_is_soft_and_restore_undoes_it():
    NoteFactory.create_batch(3)
    count, _ = Note.objects.all().delete()
    assert count == 3
    assert Note.objects.count() == 0
    assert Note.all_objects.count() == 3
    assert Note.all_objects.all().restore() == 3
    assert Note.objects.count() == 3


@pytest.mark.django_db
def test_hard_delete_removes_the_row():
    note = NoteFactory()
    note.hard_delete()
    assert not Note.all_objects.filter(id=note.id).exists()
    NoteFactory.create_batch(2)
    Note.all_objects.all().hard_delete()
    assert Note.unscoped.count() == 0


@pytest.mark.django_db
def test_deleted_slug_can_be_reused_but_live_duplicates_cannot():
    first = NoteFactory(slug="winter-sale")
    with pytest.raises(IntegrityError), transaction.atomic():
        NoteFactory(slug="winter-sale")
    first.delete()
    second = NoteFactory(slug="winter-sale")
    assert second.id != first.id
    # Restoring the first would now duplicate a live slug: the database refuses.
    with pytest.raises(IntegrityError), transaction.atomic():
        first.restore()
