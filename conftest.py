"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from emporium.core.context import tenant_context
from emporium.tenants.models import DEFAULT_TENANT_ID

REQUIRE_SERVICES = os.environ.get("EMPORIUM_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def service_unavailable(what: str) -> NoReturn:
    """Skip when a service is missing locally; fail when CI said the services must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (EMPORIUM_REQUIRE_SERVICES=1) but unavailable")
    pytest.skip(f"{what} is not available")


@pytest.fixture(autouse=True)
def _default_tenant() -> Iterator[None]:
    """Tests act as the default tenant unless they switch tenant themselves."""
    with tenant_context(DEFAULT_TENANT_ID):
        yield
