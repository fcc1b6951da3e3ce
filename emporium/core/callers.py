"""Who is calling: the client address (through trusted proxies) and a stable caller key.

Rate limits and idempotency records are scoped by `caller_key`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, empty


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the right-most untrusted X-Forwarded-For hop when
    the request came through a proxy listed in TRUSTED_PROXY_NETWORKS."""
    remote = str(request.META.get("REMOTE_ADDR") or "unknown")
    networks = settings.TRUSTED_PROXY_NETWORKS
    if not networks or not _in(remote, networks):
        return remote
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _in(hop, networks):
            return hop
    return remote


def is_authenticated(request: Any) -> bool:
    """Whether the request's user (Django's, or DRF's once a view authenticated it) is signed
    in. Django's session user is not loaded when no session cookie came: nobody can be signed
    in then, and loading it costs a session and an auth backend lookup on every anonymous
    request."""
    user = getattr(request, "user", None)
    if user is None:
        return False
    if (
        isinstance(user, SimpleLazyObject)
        and user._wrapped is empty
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
    ):
        return False
    return bool(user.is_authenticated)


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def caller_key(request: HttpRequest) -> str:
    """`user:<id>`, `credential:<hash>` for bearer/API-key callers not yet authenticated by a
    middleware, or `anon:<client ip>`; always prefixed by the tenant so shops never share keys."""
    tenant = getattr(request, "tenant", None)
    prefix = f"t:{tenant.id}" if tenant is not None else "t:-"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"{prefix}:user:{user.pk}"
    authorization = request.headers.get("Authorization", "")
    if authorization:
        digest = hashlib.sha256(authorization.encode()).hexdigest()[:32]
        return f"{prefix}:credential:{digest}"
    return f"{prefix}:anon:{client_ip(request)}"
