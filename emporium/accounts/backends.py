"""Authentication by email within the current tenant."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from emporium.accounts.models import User
from emporium.accounts.selectors import platform_staff_get


class TenantEmailBackend(ModelBackend):
    """Django's ModelBackend; the user manager scopes every lookup to the request's tenant, so a
    user of one shop can never sign in (or be loaded from a session) on another shop's host.
    The one exception is platform staff, who may sign in on every shop's host."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None or username is None or password is None:
            return user
        staff = platform_staff_get(email=username)
        if (
            staff is not None
            and staff.check_password(password)
            and self.user_can_authenticate(staff)
        ):
            return staff
        return None

    def get_user(self, user_id: Any) -> User | None:
        user = super().get_user(user_id)
        if user is not None:
            return user
        try:
            return platform_staff_get(user_id=uuid.UUID(str(user_id)))
        except ValueError:
            return None
