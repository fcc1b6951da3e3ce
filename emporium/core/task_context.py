"""Carry the tenant and the correlation id from the publisher into the task.

`before_task_publish` copies them into the message headers; `task_prerun` restores them in the
worker (so tenant-scoped managers and log lines work there) and `task_postrun` clears them.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from emporium.core import context

TENANT_HEADER = "emporium_tenant_id"
REQUEST_ID_HEADER = "emporium_request_id"

_tokens: dict[str, context.ContextTokens] = {}


@signals.before_task_publish.connect
def _add_context_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    tenant_id = context.get_current_tenant_id()
    if tenant_id is not None:
        headers.setdefault(TENANT_HEADER, str(tenant_id))
    request_id = context.get_request_id()
    if request_id is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def _header(task: Any, name: str) -> str | None:
    request = task.request
    value = getattr(request, name, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(name)
    return str(value) if value else None


@signals.task_prerun.connect
def _restore_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task is None or task_id is None:
        return
    # Without headers (a task run eagerly, in-process) the caller's context simply carries on.
    tenant_id = _header(task, TENANT_HEADER) or context.get_current_tenant_id()
    request_id = _header(task, REQUEST_ID_HEADER) or context.get_request_id() or f"task-{task_id}"
    _tokens[task_id] = context.bind_context(tenant_id=tenant_id, request_id=request_id)


@signals.task_postrun.connect
def _clear_context(task_id: str | None = None, **_: Any) -> None:
    tokens = _tokens.pop(task_id or "", None)
    if tokens is not None:
        context.reset_context(tokens)
