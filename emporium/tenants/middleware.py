"""Resolve the tenant of each request and put it in context for managers, logs and tasks."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.utils.translation import gettext as _

from emporium.core.callers import client_ip
from emporium.core.context import tenant_context
from emporium.core.errors import problem_response
from emporium.tenants.models import Tenant
from emporium.tenants.selectors import tenant_get_by_host_cached, tenant_get_by_slug

# Probes and static assets answer without a tenant (and without touching the database).
TENANT_EXEMPT_PREFIXES = ("/health/", "/static/")


def _trusted_caller(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in settings.TENANT_TRUSTED_NETWORKS)


class TenantMiddleware:
    """Tenant from the `X-Tenant` header (trusted callers only) or from the request host.

    An unknown host falls back to the default tenant unless TENANT_STRICT_HOSTS is on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(TENANT_EXEMPT_PREFIXES):
            return self.get_response(request)
        header_value = request.headers.get(settings.TENANT_HEADER)
        tenant: Tenant | None
        if header_value is not None:
            if not _trusted_caller(request):
                return problem_response(
                    request,
                    status=403,
                    code="tenant_header_forbidden",
                    detail=_("The %(header)s header is only accepted from trusted callers.")
                    % {"header": settings.TENANT_HEADER},
                )
            tenant = tenant_get_by_slug(slug=header_value.strip())
        else:
            host, _port = split_domain_port(request.get_host())
            tenant = tenant_get_by_host_cached(
                host=host, fall_back_to_default=not settings.TENANT_STRICT_HOSTS
            )
        if tenant is None:
            return problem_response(
                request, status=404, code="tenant_not_found", detail=_("No shop is served here.")
            )
        request.tenant = tenant  # type: ignore[attr-defined]
        with tenant_context(tenant.id):
            return self.get_response(request)
