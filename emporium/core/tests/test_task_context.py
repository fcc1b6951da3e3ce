"""Tenant and correlation id travel from the publisher into the task (in-process parts)."""

import uuid

import pytest
from django.core.cache import cache

from emporium.core.context import (
    get_current_tenant_id,
    get_request_id,
    request_id_context,
    tenant_context,
)
from emporium.core.task_context import REQUEST_ID_HEADER, TENANT_HEADER, _add_context_headers
from emporium.core.tasks import ping, ping_cache_key


def test_publish_adds_headers_from_context():
    tenant_id = uuid.uuid4()
    headers: dict = {}
    with tenant_context(tenant_id), request_id_context("req-publish-1"):
        _add_context_headers(headers=headers)
    assert headers == {TENANT_HEADER: str(tenant_id), REQUEST_ID_HEADER: "req-publish-1"}


def test_publish_without_context_adds_nothing():
    headers: dict = {}
    with tenant_context(None):
        _add_context_headers(headers=headers)
        _add_context_headers(headers=None)
    assert headers == {}


@pytest.mark.django_db
def test_task_restores_context_from_headers_and_clears_it_after():
    tenant_id = uuid.uuid4()
    token = uuid.uuid4().hex
    with tenant_context(None):
        ping.apply(
            args=[token],
            headers={TENANT_HEADER: str(tenant_id), REQUEST_ID_HEADER: "req-in-task-1"},
        )
        assert get_current_tenant_id() is None
    assert get_request_id() is None
    seen = cache.get(ping_cache_key(token))
    assert seen["tenant_id"] == str(tenant_id)
    assert seen["request_id"] == "req-in-task-1"


@pytest.mark.django_db
def test_task_without_headers_gets_a_task_correlation_id():
    token = uuid.uuid4().hex
    with tenant_context(None):
        ping.apply(args=[token], task_id="abc123")
    seen = cache.get(ping_cache_key(token))
    assert seen["tenant_id"] == ""
    assert seen["request_id"] == "task-abc123"
