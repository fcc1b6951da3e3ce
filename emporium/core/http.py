"""The HTTP client helper every outgoing call goes through.

It sets timeouts, a User-Agent, and forwards the correlation id as `X-Request-ID` so a call can
be traced across services. Vendor clients that bring their own transport (Stripe, boto3) get the
id through their own hooks in their modules.
"""

from __future__ import annotations

from typing import Any

import httpx

from emporium.core.context import get_request_id

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
USER_AGENT = "Emporium/0.1"


def _add_request_id(request: httpx.Request) -> None:
    request_id = get_request_id()
    if request_id and "X-Request-ID" not in request.headers:
        request.headers["X-Request-ID"] = request_id


def http_client(*, base_url: str = "", timeout: float | None = None, **kwargs: Any) -> httpx.Client:
    """A configured `httpx.Client`; use it as a context manager."""
    hooks = kwargs.pop("event_hooks", {})
    hooks.setdefault("request", []).append(_add_request_id)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout) if timeout is not None else DEFAULT_TIMEOUT,
        headers={"User-Agent": USER_AGENT, **kwargs.pop("headers", {})},
        event_hooks=hooks,
        **kwargs,
    )
