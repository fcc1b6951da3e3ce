"""Per-request and per-task context: the current tenant and the correlation id.

Middleware sets both for a request, Celery signal handlers restore them in a task, the logging
processor adds them to every log line and the HTTP client helper forwards the correlation id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_tenant_id: ContextVar[uuid.UUID | None] = ContextVar("emporium_tenant_id", default=None)
_request_id: ContextVar[str | None] = ContextVar("emporium_request_id", default=None)


class TenantContextMissing(RuntimeError):
    """A tenant-scoped query ran with no tenant in context (a bug: it would leak across tenants)."""


def get_current_tenant_id() -> uuid.UUID | None:
    """The tenant of the running request or task, or None outside one."""
    return _tenant_id.get()


def require_current_tenant_id() -> uuid.UUID:
    """The current tenant id; raises `TenantContextMissing` when there is none."""
    tenant_id = _tenant_id.get()
    if tenant_id is None:
        raise TenantContextMissing(
            "No tenant in context: wrap the code in tenant_context(...) or use the `unscoped` "
            "manager for deliberate cross-tenant work."
        )
    return tenant_id


@contextmanager
def tenant_context(tenant_id: uuid.UUID | str | None) -> Iterator[None]:
    """Run the block as `tenant_id` (None clears the tenant), restoring the previous one after."""
    value = uuid.UUID(str(tenant_id)) if tenant_id is not None else None
    token = _tenant_id.set(value)
    try:
        yield
    finally:
        _tenant_id.reset(token)


def get_request_id() -> str | None:
    """The correlation id of the running request or task."""
    return _request_id.get()


@contextmanager
def request_id_context(request_id: str | None) -> Iterator[None]:
    """Run the block with `request_id` as the correlation id."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


ContextTokens = tuple[Token[uuid.UUID | None], Token[str | None]]


def bind_context(*, tenant_id: uuid.UUID | str | None, request_id: str | None) -> ContextTokens:
    """Set tenant and correlation id outside a `with` block (Celery signals); see reset_context."""
    tenant = uuid.UUID(str(tenant_id)) if tenant_id else None
    return _tenant_id.set(tenant), _request_id.set(request_id)


def reset_context(tokens: ContextTokens) -> None:
    """Undo `bind_context`."""
    _tenant_id.reset(tokens[0])
    _request_id.reset(tokens[1])
