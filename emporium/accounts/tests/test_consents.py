"""Consents: an append-only history per user with time, source, policy version, IP and user
agent; the latest record per purpose is the current decision."""

from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporium.accounts.models import ConsentRecord, ConsentRecordImmutable
from emporium.accounts.selectors_preferences import consent_is_granted
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/consents/"
NOBODY_ASKED = {"marketing_email": None, "marketing_sms": None, "marketing_push": None}


@pytest.fixture
def user(make_user):
    return make_user(email="ada@example.com")


def consent(purpose="marketing_email", granted=True, **fields):
    return {
        "purpose": purpose,
        "granted": granted,
        "source": "account_settings",
        "policy_version": "2025-01",
        **fields,
    }


def post(client, headers, body, **extra):
    return client.post(URL, body, content_type="application/json", **headers, **extra)


def test_nothing_recorded_yet(client, user, bearer):
    response = client.get(URL, **bearer(user))
    assert response.status_code == 200
    assert response.json() == {
        "current": {**NOBODY_ASKED, "profiling": None},
        "count": 0,
        "next": None,
        "previous": None,
        "history": [],
    }
    assert "private" in response["Cache-Control"]
    assert not consent_is_granted(user=user, purpose="marketing_email")


def test_grant_records_time_ip_and_user_agent(client, user, bearer):
    response = post(
        client,
        bearer(user),
        consent(source="signup_form", policy_version=" v3.1 "),
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT="Shop/1.0 (iPhone)",
    )
    assert response.status_code == 201
    created = response.json()
    assert created["purpose"] == "marketing_email"
    assert created["granted"] is True
    assert created["source"] == "signup_form"
    assert created["policy_version"] == "v3.1"
    assert created["ip_address"] == "198.51.100.7"
    assert created["user_agent"] == "Shop/1.0 (iPhone)"

    record = ConsentRecord.objects.get(id=created["id"])
    assert record.user_id == user.id
    assert record.ip_address == "198.51.100.7"
    assert abs(record.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert consent_is_granted(user=user, purpose="marketing_email")
    assert not consent_is_granted(user=user, purpose="marketing_sms")


def test_long_user_agent_is_truncated_and_ipv6_kept(client, user, bearer):
    response = post(
        client,
        bearer(user),
        consent(),
        REMOTE_ADDR="2001:db8::1",
        HTTP_USER_AGENT="x" * 1000,
    )
    assert response.status_code == 201
    record = ConsentRecord.objects.get(id=response.json()["id"])
    assert record.user_agent == "x" * 256
    assert record.ip_address == "2001:db8::1"


def test_ip_is_the_client_behind_a_trusted_proxy_only(client, user, bearer, settings):
    settings.TRUSTED_PROXY_NETWORKS = [ip_network("10.0.0.0/8")]
    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    via_proxy = post(client, bearer(user), consent(), REMOTE_ADDR="10.1.2.3", **forwarded)
    assert via_proxy.json()["ip_address"] == "203.0.113.5"
    direct = post(client, bearer(user), consent(), REMOTE_ADDR="198.51.100.9", **forwarded)
    assert direct.json()["ip_address"] == "198.51.100.9"
    unknown = post(client, bearer(user), consent(), REMOTE_ADDR="")
    assert unknown.status_code == 201
    assert unknown.json()["ip_address"] is None


def test_clients_can_revalidate_their_copy(client, user, bearer):
    headers = bearer(user)
    first = client.get(URL, **headers)
    etag = first["ETag"]
    assert client.get(URL, HTTP_IF_NONE_MATCH=etag, **headers).status_code == 304
    post(client, headers, consent())
    changed = client.get(URL, HTTP_IF_NONE_MATCH=etag, **headers)
    assert changed.status_code == 200
    assert changed.json()["count"] == 1


def test_a_second_decision_adds_a_record_and_becomes_current(client, user, bearer):
    headers = bearer(user)
    first = post(client, headers, consent(granted=True, policy_version="v1")).json()
    second = post(client, headers, consent(granted=False, policy_version="v2")).json()
    post(client, headers, consent(purpose="profiling", granted=True))

    body = client.get(URL, **headers).json()
    assert body["current"]["marketing_email"] == {
        "granted": False,
        "since": second["created_at"],
        "policy_version": "v2",
    }
    assert body["current"]["profiling"]["granted"] is True
    assert body["current"]["marketing_sms"] is None
    assert body["count"] == 3
    history = body["history"]
    assert [r["purpose"] for r in history] == ["profiling", "marketing_email", "marketing_email"]
    assert history[1]["id"] == second["id"]
    assert history[2] == first  # the earlier record is unchanged
    assert not consent_is_granted(user=user, purpose="marketing_email")
    assert consent_is_granted(user=user, purpose="profiling")


def test_history_is_paginated(client, user, bearer):
    headers = bearer(user)
    for version in range(5):
        post(client, headers, consent(policy_version=f"v{version}"))
    first = client.get(URL, {"page_size": 2}, **headers).json()
    assert first["count"] == 5
    assert [r["policy_version"] for r in first["history"]] == ["v4", "v3"]
    assert first["current"]["marketing_email"]["policy_version"] == "v4"
    last = client.get(URL, {"page_size": 2, "page": 3}, **headers).json()
    assert [r["policy_version"] for r in last["history"]] == ["v0"]
    assert last["next"] is None
    assert last["current"] == first["current"]


def test_records_cannot_be_changed_or_deleted(client, user, bearer):
    created = post(client, bearer(user), consent()).json()
    record = ConsentRecord.objects.get(id=created["id"])
    record.granted = False
    with pytest.raises(ConsentRecordImmutable):
        record.save()
    with pytest.raises(ConsentRecordImmutable):
        record.delete()
    for method in (client.put, client.patch, client.delete):
        response = method(
            URL, consent(granted=False), content_type="application/json", **bearer(user)
        )
        assert response.status_code == 405
    assert client.delete(f"{URL}{created['id']}/", **bearer(user)).status_code == 404
    assert ConsentRecord.objects.get(id=created["id"]).granted is True


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (consent(purpose="telepathy"), "purpose", "invalid_choice"),
        (consent(source="carrier_pigeon"), "source", "invalid_choice"),
        (consent(policy_version="x" * 21), "policy_version", "max_length"),
        (consent(policy_version=""), "policy_version", "blank"),
        ({"purpose": "profiling", "source": "api", "policy_version": "1"}, "granted", "required"),
    ],
)
def test_invalid_consents_are_rejected(client, user, bearer, body, field, code):
    response = post(client, bearer(user), body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {(field, code)}
    assert not ConsentRecord.objects.exists()


def test_anonymous_gets_401(client):
    assert client.get(URL).status_code == 401
    response = post(client, {}, consent())
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert not ConsentRecord.objects.exists()


def test_another_customer_never_sees_mine(client, make_user, bearer):
    ada = make_user(email="ada@example.com")
    bob = make_user(email="bob@example.com")
    post(client, bearer(ada), consent(), HTTP_USER_AGENT="ada's browser")
    body = client.get(URL, **bearer(bob)).json()
    assert body["count"] == 0
    assert body["current"]["marketing_email"] is None
    assert not consent_is_granted(user=bob, purpose="marketing_email")


def test_another_tenant_is_isolated(client, settings, make_user, bearer):
    settings.ALLOWED_HOSTS = ["testserver", "other.shop.test"]
    other = TenantDomainFactory(domain="other.shop.test").tenant
    mine = make_user(email="ada@example.com")
    post(client, bearer(mine), consent())
    with tenant_context(other.id):
        theirs = make_user(email="ada@example.com")
        their_headers = bearer(theirs)
    body = client.get(URL, HTTP_HOST="other.shop.test", **their_headers).json()
    assert body["count"] == 0
    assert body["current"]["marketing_email"] is None

    created = post(client, their_headers, consent(purpose="profiling"), HTTP_HOST="other.shop.test")
    assert created.status_code == 201
    assert ConsentRecord.unscoped.get(id=created.json()["id"]).tenant_id == other.id
    mine_now = client.get(URL, **bearer(mine)).json()
    assert mine_now["count"] == 1
    assert mine_now["current"]["profiling"] is None
    assert post(client, their_headers, consent()).status_code == 401  # wrong shop's token


def consent_queries(context):
    return [q["sql"] for q in context.captured_queries if "accounts_consentrecord" in q["sql"]]


def test_get_costs_the_same_queries_for_many_records(
    client, user, bearer, django_assert_max_num_queries
):
    headers = bearer(user)
    client.get(URL, **headers)  # warm the user cache and the rate-limit counters
    purposes = ["marketing_email", "marketing_sms", "marketing_push", "profiling"]
    ConsentRecord.objects.create(
        user=user, purpose="profiling", granted=True, source="api", policy_version="1"
    )
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL, **headers).status_code == 200
    for index in range(150):
        ConsentRecord.objects.create(
            user=user,
            purpose=purposes[index % 4],
            granted=index % 3 != 0,
            source="api",
            policy_version=str(index),
        )
    # The bound covers the embedded database cache (user, rate limits); the consent
    # records themselves cost three queries: count, page, current state.
    with django_assert_max_num_queries(25) as many:
        response = client.get(URL, {"page_size": 100}, **headers)
    assert response.status_code == 200
    assert response.json()["count"] == 151
    assert len(response.json()["history"]) == 100
    assert all(state is not None for state in response.json()["current"].values())
    assert len(consent_queries(few)) == len(consent_queries(many)) == 3
    assert not any("accounts_user" in q["sql"] for q in many.captured_queries)
