"""The transactional outbox: events exist exactly when their change committed, and the relay
hands each to its handlers once, per tenant, retrying failures."""

import pytest
from django.db import transaction

from config.celery import app
from emporium.core import outbox
from emporium.core.context import get_current_tenant_id, tenant_context
from emporium.core.models import OutboxEvent
from emporium.tenants.models import DEFAULT_TENANT_ID
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(monkeypatch):
    """Handlers for `test.*` events that record (event id, tenant in context)."""
    seen = []
    monkeypatch.setattr(outbox, "_handlers", outbox.defaultdict(list))

    @outbox.outbox_handler("test.happened")
    def handle(event):
        seen.append((event.id, event.payload, get_current_tenant_id()))

    return seen


def test_event_is_written_with_the_change_and_relayed_once(received):
    event = outbox.outbox_event_add(name="test.happened", payload={"n": 1})
    assert event.tenant_id == DEFAULT_TENANT_ID

    assert outbox.outbox_relay() == 1
    assert outbox.outbox_relay() == 0  # published events are not handed out again
    assert received == [(event.id, {"n": 1}, DEFAULT_TENANT_ID)]
    event.refresh_from_db()
    assert event.published_at is not None
    assert event.attempts == 1


def test_rolled_back_change_leaves_no_event(received):
    def write_then_fail():
        with transaction.atomic():
            outbox.outbox_event_add(name="test.happened", payload={})
            raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert OutboxEvent.unscoped.count() == 0
    assert outbox.outbox_relay() == 0
    assert received == []


def test_handlers_run_with_the_events_tenant(received):
    other = TenantFactory()
    with tenant_context(other.id):
        theirs = outbox.outbox_event_add(name="test.happened", payload={"shop": "other"})
    ours = outbox.outbox_event_add(name="test.happened", payload={"shop": "default"})

    with tenant_context(None):  # the scheduled task runs outside any shop
        assert outbox.relay_outbox() == 2
    assert received == [
        (theirs.id, {"shop": "other"}, other.id),
        (ours.id, {"shop": "default"}, DEFAULT_TENANT_ID),
    ]


def test_failing_handler_is_retried_without_blocking_others(received, monkeypatch):
    failures = {"left": 2}

    @outbox.outbox_handler("test.flaky")
    def flaky(event):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("broker down")

    flaky_event = outbox.outbox_event_add(name="test.flaky", payload={})
    fine_event = outbox.outbox_event_add(name="test.happened", payload={})

    assert outbox.outbox_relay() == 1
    assert [r[0] for r in received] == [fine_event.id]
    flaky_event.refresh_from_db()
    assert flaky_event.published_at is None
    assert flaky_event.attempts == 1
    assert "broker down" in flaky_event.last_error

    assert outbox.outbox_relay() == 0
    assert outbox.outbox_relay() == 1
    flaky_event.refresh_from_db()
    assert flaky_event.published_at is not None
    assert flaky_event.attempts == 3


def test_event_failing_too_often_stays_as_a_dead_letter(received, monkeypatch):
    @outbox.outbox_handler("test.broken")
    def broken(event):
        raise ValueError("bad payload")

    event = outbox.outbox_event_add(name="test.broken", payload={})
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        outbox.outbox_relay()
    event.refresh_from_db()
    assert event.attempts == outbox.MAX_ATTEMPTS
    assert event.published_at is None


def test_handler_writes_roll_back_when_it_fails(received):
    @outbox.outbox_handler("test.half_done")
    def half_done(event):
        outbox.outbox_event_add(name="test.follow_up", payload={})
        raise RuntimeError("after a write")

    outbox.outbox_event_add(name="test.half_done", payload={})
    outbox.outbox_relay()
    assert not OutboxEvent.unscoped.filter(name="test.follow_up").exists()


def test_relay_works_through_batches(received):
    events = [outbox.outbox_event_add(name="test.happened", payload={"i": i}) for i in range(7)]
    assert outbox.outbox_relay(batch_size=3) == 7
    assert [r[0] for r in received] == [e.id for e in events]


def test_events_without_handlers_are_marked_published(received):
    outbox.outbox_event_add(name="test.nobody_listens", payload={})
    assert outbox.outbox_relay() == 1


def test_relay_task_is_registered_with_the_worker():
    import emporium.orders.tasks  # noqa: F401  (the module that registers it with the worker)

    assert "core.relay_outbox" in app.tasks
