"""Notification preferences: defaults, replacing the matrix, required channels, the channel
selector other modules call (with the marketing consent rule), and who sees what."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporium.accounts.models import NotificationPreference
from emporium.accounts.selectors_preferences import notification_channels_for
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/notification-preferences/"
CONSENTS_URL = "/api/v1/me/consents/"

DEFAULTS = {
    "order_status": {"email": True, "sms": False, "push": True},
    "shipping": {"email": True, "sms": False, "push": True},
    "marketing": {"email": False, "sms": False, "push": False},
    "account_security": {"email": True, "sms": False, "push": False},
}


def matrix(**changes):
    """The default matrix with `event={"channel": value}` changes applied."""
    result = {event: dict(channels) for event, channels in DEFAULTS.items()}
    for event, channels in changes.items():
        result[event].update(channels)
    return result


@pytest.fixture
def user(make_user):
    return make_user(email="ada@example.com")


def put(client, headers, body):
    return client.put(URL, body, content_type="application/json", **headers)


def errors_of(response):
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    return {(e["field"], e["code"]) for e in body["errors"]}


def test_defaults_for_a_new_user(client, user, bearer):
    response = client.get(URL, **bearer(user))
    assert response.status_code == 200
    assert response.json() == DEFAULTS
    assert "private" in response["Cache-Control"]


def test_put_replaces_the_matrix_and_get_returns_it(client, user, bearer):
    wanted = matrix(
        order_status={"sms": True, "push": False},
        shipping={"email": False},
        marketing={"email": True},
        account_security={"push": True},
    )
    response = put(client, bearer(user), wanted)
    assert response.status_code == 200
    assert response.json() == wanted
    assert client.get(URL, **bearer(user)).json() == wanted

    # A second PUT replaces again (an upsert: still one row per event and channel).
    assert put(client, bearer(user), DEFAULTS).json() == DEFAULTS
    assert client.get(URL, **bearer(user)).json() == DEFAULTS
    assert NotificationPreference.objects.filter(user=user).count() == 12


def test_security_email_cannot_be_turned_off(client, user, bearer):
    put(client, bearer(user), matrix(shipping={"email": False}))
    response = put(
        client,
        bearer(user),
        matrix(account_security={"email": False}, order_status={"email": False}),
    )
    assert errors_of(response) == {("account_security.email", "required_channel")}
    # Nothing changed, not even the valid part of the request.
    assert client.get(URL, **bearer(user)).json() == matrix(shipping={"email": False})


def test_unknown_events_and_channels_are_rejected(client, user, bearer):
    body = matrix()
    body["newsletter"] = {"email": True}
    body["marketing"]["fax"] = True
    response = put(client, bearer(user), body)
    assert errors_of(response) == {
        ("newsletter", "unknown_event"),
        ("marketing.fax", "unknown_channel"),
    }
    assert not NotificationPreference.objects.exists()


def test_the_whole_matrix_is_required(client, user, bearer):
    body = matrix()
    del body["shipping"]
    del body["marketing"]["push"]
    body["order_status"]["sms"] = "maybe"
    response = put(client, bearer(user), body)
    assert errors_of(response) == {
        ("shipping", "required"),
        ("marketing.push", "required"),
        ("order_status.sms", "invalid"),
    }
    assert put(client, bearer(user), ["not", "a", "matrix"]).status_code == 400
    assert not NotificationPreference.objects.exists()


def test_anonymous_gets_401(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert put(client, {}, DEFAULTS).status_code == 401
    assert not NotificationPreference.objects.exists()


def test_each_customer_sees_only_their_own(client, make_user, bearer):
    ada = make_user(email="ada@example.com")
    bob = make_user(email="bob@example.com")
    put(client, bearer(ada), matrix(marketing={"email": True, "sms": True}))
    assert client.get(URL, **bearer(bob)).json() == DEFAULTS
    put(client, bearer(bob), matrix(order_status={"push": False}))
    assert client.get(URL, **bearer(ada)).json() == matrix(marketing={"email": True, "sms": True})


def test_another_tenant_is_isolated(client, settings, make_user, bearer):
    settings.ALLOWED_HOSTS = ["testserver", "other.shop.test"]
    other = TenantDomainFactory(domain="other.shop.test").tenant
    mine = make_user(email="ada@example.com")
    put(client, bearer(mine), matrix(marketing={"push": True}))
    with tenant_context(other.id):
        theirs = make_user(email="ada@example.com")  # same email, other shop
        their_headers = bearer(theirs)
    response = client.get(URL, HTTP_HOST="other.shop.test", **their_headers)
    assert response.status_code == 200
    assert response.json() == DEFAULTS
    changed = client.put(
        URL,
        matrix(order_status={"email": False}),
        content_type="application/json",
        HTTP_HOST="other.shop.test",
        **their_headers,
    )
    assert changed.status_code == 200
    assert client.get(URL, **bearer(mine)).json() == matrix(marketing={"push": True})
    # The other shop's token does not work on this shop's host.
    assert client.get(URL, **their_headers).status_code == 401
    rows = NotificationPreference.unscoped.filter(tenant=other)
    assert rows.count() == 12
    assert set(rows.values_list("user_id", flat=True)) == {theirs.id}


def grant(client, headers, purpose, granted=True):
    response = client.post(
        CONSENTS_URL,
        {
            "purpose": purpose,
            "granted": granted,
            "source": "account_settings",
            "policy_version": "2025-01",
        },
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 201


class TestChannelsFor:
    def test_defaults(self, user):
        assert notification_channels_for(user=user, event="order_status") == {"email", "push"}
        assert notification_channels_for(user=user, event="shipping") == {"email", "push"}
        assert notification_channels_for(user=user, event="marketing") == set()
        assert notification_channels_for(user=user, event="account_security") == {"email"}

    def test_follows_the_users_choices(self, client, user, bearer):
        put(client, bearer(user), matrix(order_status={"email": False, "sms": True}))
        assert notification_channels_for(user=user, event="order_status") == {"sms", "push"}

    def test_security_email_is_sent_even_if_stored_off(self, user):
        # A row written around the service (an old import, a manual fix) does not mute it.
        NotificationPreference.objects.create(
            user=user, event="account_security", channel="email", enabled=False
        )
        assert notification_channels_for(user=user, event="account_security") == {"email"}

    def test_marketing_needs_preference_and_consent(self, client, user, bearer):
        headers = bearer(user)
        # Consent alone is not enough: marketing is off in the preferences by default.
        grant(client, headers, "marketing_email")
        assert notification_channels_for(user=user, event="marketing") == set()

        # Preference on for every channel: only the consented one is used.
        put(client, headers, matrix(marketing={"email": True, "sms": True, "push": True}))
        assert notification_channels_for(user=user, event="marketing") == {"email"}

        grant(client, headers, "marketing_sms")
        assert notification_channels_for(user=user, event="marketing") == {"email", "sms"}

        # Withdrawing the consent stops marketing at once, whatever the preference says.
        grant(client, headers, "marketing_email", granted=False)
        assert notification_channels_for(user=user, event="marketing") == {"sms"}

        # And turning the preference off stops it despite the consent.
        put(client, headers, matrix(marketing={"push": True}))
        assert notification_channels_for(user=user, event="marketing") == set()

    def test_profiling_consent_does_not_open_a_channel(self, client, user, bearer):
        put(client, bearer(user), matrix(marketing={"email": True}))
        grant(client, bearer(user), "profiling")
        assert notification_channels_for(user=user, event="marketing") == set()

    def test_unknown_event_is_a_programming_error(self, user):
        with pytest.raises(ValueError, match="newsletter"):
            notification_channels_for(user=user, event="newsletter")

    def test_another_customers_consent_does_not_count(self, client, make_user, bearer):
        ada = make_user(email="ada@example.com")
        bob = make_user(email="bob@example.com")
        put(client, bearer(ada), matrix(marketing={"email": True}))
        grant(client, bearer(bob), "marketing_email")
        assert notification_channels_for(user=ada, event="marketing") == set()


def test_reads_cost_constant_queries(client, user, bearer, django_assert_num_queries):
    put(client, bearer(user), matrix(marketing={"email": True, "sms": True}))
    with CaptureQueriesContext(connection) as request:
        assert client.get(URL, **bearer(user)).status_code == 200
    own = [q for q in request.captured_queries if "accounts_notificationpreference" in q["sql"]]
    assert len(own) == 1
    # Preferences plus the current consents, whatever the history's length.
    with django_assert_num_queries(2):
        notification_channels_for(user=user, event="marketing")


def test_service_checks_the_matrix_for_other_callers_too(user):
    from emporium.accounts.services_preferences import (
        PreferencesInvalid,
        notification_preferences_replace,
    )

    body = matrix(account_security={"email": False})
    body["newsletter"] = {"email": True}
    del body["shipping"]
    body["marketing"]["fax"] = True
    del body["order_status"]["sms"]
    with pytest.raises(PreferencesInvalid) as raised:
        notification_preferences_replace(user=user, preferences=body)
    assert {(p.field, p.code) for p in raised.value.problems} == {
        ("newsletter", "unknown_event"),
        ("shipping", "required"),
        ("marketing.fax", "unknown_channel"),
        ("order_status.sms", "required"),
        ("account_security.email", "required_channel"),
    }
    assert not NotificationPreference.objects.exists()
