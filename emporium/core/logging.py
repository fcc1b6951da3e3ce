"""Structured logging: structlog renders every record (stdlib ones included).

Console output in dev and test, JSON lines in staging and production. The correlation id and the
tenant of the running request or task are added to every line.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from emporium.core.context import get_current_tenant_id, get_request_id


def add_request_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Add `request_id` and `tenant_id` of the running request or task.

    Django logs some lines (`django.request`) after the middleware has returned, passing the
    request object instead: its id is taken from there, and the object itself is dropped (its
    repr carries the query string, which may hold personal data).
    """
    request = event_dict.pop("request", None)
    if isinstance(request, str):
        event_dict["request"] = request
    request_id = get_request_id() or getattr(request, "request_id", None)
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    tenant_id = get_current_tenant_id()
    if tenant_id is not None:
        event_dict.setdefault("tenant_id", str(tenant_id))
    return event_dict


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(),
        add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def build_formatter(fmt: Literal["console", "json"] = "console") -> logging.Formatter:
    """A stdlib formatter (used by Django's LOGGING) that renders through structlog."""
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        final: list[Processor] = [structlog.processors.format_exc_info, renderer]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=False)]
    configure_structlog()
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )


def configure_structlog() -> None:
    """Route structlog loggers through the stdlib so one handler configuration applies."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to `name` (use the module's __name__)."""
    return structlog.stdlib.get_logger(name)
