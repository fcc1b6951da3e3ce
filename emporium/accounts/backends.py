"""Authentication by email within the current tenant."""

from django.contrib.auth.backends import ModelBackend


class TenantEmailBackend(ModelBackend):
    """Django's ModelBackend; the user manager scopes every lookup to the request's tenant, so a
    user of one shop can never sign in (or be loaded from a session) on another shop's host."""
