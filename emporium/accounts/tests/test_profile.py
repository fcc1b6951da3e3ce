"""The caller's profile (`me/`) and address book (`me/addresses/`), through HTTP."""

import threading
import uuid

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test import Client

from conftest import service_unavailable
from emporium.accounts.api.auth import tokens_for
from emporium.accounts.models import Address, User
from emporium.accounts.services_profile import ADDRESS_LIMIT
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
ADDRESSES = "/api/v1/me/addresses/"
PROBLEM = "application/problem+json"
HOME = {
    "label": "Home",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
}


def detail_url(address_id):
    return f"{ADDRESSES}{address_id}/"


def field_errors(response):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "validation_error"
    return {(error["field"], error["code"]) for error in body["errors"]}


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def grace(make_user):
    return make_user(email="grace@example.com")


def add_address(user, **fields):
    return Address.objects.create(user=user, **{**HOME, **fields})


# --- me/ -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", ME),
        ("patch", ME),
        ("get", ADDRESSES),
        ("post", ADDRESSES),
        ("get", detail_url(uuid.uuid4())),
        ("delete", detail_url(uuid.uuid4())),
    ],
)
def test_anonymous_is_refused(client, method, url):
    response = getattr(client, method)(url, content_type="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_authenticated"


def test_profile_shows_the_callers_own_data(client, bearer, ada, grace):
    response = client.get(ME, **bearer(ada))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": str(ada.id),
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "",
        "locale": "",
        "email_verified": True,
        "avatar": None,
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("Z")
    assert client.get(ME, **bearer(grace)).json()["email"] == "grace@example.com"


def test_patch_changes_names_phone_and_locale(
    client, bearer, ada, django_capture_on_commit_callbacks
):
    headers = bearer(ada)
    client.get(ME, **headers)  # the authenticated user is now cached
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(
            ME,
            {"first_name": "Augusta", "phone": "+49 30 1234 5678", "locale": "de"},
            content_type="application/json",
            **headers,
        )
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == "+493012345678"
    # The next request sees the change (the cached user was dropped on commit).
    body = client.get(ME, **headers).json()
    assert (body["first_name"], body["last_name"]) == ("Augusta", "Lovelace")
    assert (body["phone"], body["locale"]) == ("+493012345678", "de")
    ada.refresh_from_db()
    assert ada.phone == "+493012345678"


def test_patch_cannot_change_email(client, bearer, ada):
    response = client.patch(
        ME,
        {"email": "mallory@example.com", "last_name": "King"},
        content_type="application/json",
        **bearer(ada),
    )
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    assert User.objects.get(id=ada.id).email == "ada@example.com"


def test_phone_can_be_removed(client, bearer, make_user):
    user = make_user(email="phone@example.com", phone="+493012345678")
    response = client.patch(ME, {"phone": ""}, content_type="application/json", **bearer(user))
    assert response.status_code == 200
    assert User.objects.get(id=user.id).phone == ""


@pytest.mark.parametrize("phone", ["12345", "030 1234567", "+49 123", "call me", "+1 555 0100"])
def test_invalid_phone_is_refused_and_nothing_changes(client, bearer, ada, phone):
    response = client.patch(
        ME,
        {"first_name": "Changed", "phone": phone},
        content_type="application/json",
        **bearer(ada),
    )
    assert field_errors(response) == {("phone", "invalid_phone")}
    stored = User.objects.get(id=ada.id)
    assert (stored.first_name, stored.phone) == ("Ada", "")


def test_unknown_locale_is_refused(client, bearer, ada):
    response = client.patch(ME, {"locale": "fr"}, content_type="application/json", **bearer(ada))
    assert field_errors(response) == {("locale", "invalid_choice")}
    assert User.objects.get(id=ada.id).locale == ""


def test_too_long_name_is_refused(client, bearer, ada):
    response = client.patch(
        ME, {"last_name": "x" * 151}, content_type="application/json", **bearer(ada)
    )
    assert field_errors(response) == {("last_name", "max_length")}


# --- me/addresses/ ---------------------------------------------------------------------------


def test_create_normalises_country_and_phone(client, bearer, ada):
    response = client.post(
        ADDRESSES,
        {**HOME, "country": "de", "phone": "030 1234567"},
        content_type="application/json",
        **bearer(ada),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["country"], body["phone"]) == ("DE", "+49301234567")
    assert body["is_default_shipping"] is False
    stored = Address.objects.get(id=body["id"])
    assert stored.user_id == ada.id
    assert (stored.line1, stored.city, stored.label) == ("Unter den Linden 1", "Berlin", "Home")


def test_create_requires_line1_city_and_country(client, bearer, ada):
    response = client.post(
        ADDRESSES, {"label": "Nowhere"}, content_type="application/json", **bearer(ada)
    )
    assert field_errors(response) == {
        ("line1", "required"),
        ("city", "required"),
        ("country", "required"),
    }
    assert not Address.objects.exists()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"country": "XX"}, {("country", "invalid_country")}),
        ({"country": "DEU"}, {("country", "invalid_country")}),
        ({"phone": "12"}, {("phone", "invalid_phone")}),
        ({"phone": "+1 212 555 0100"}, set()),
    ],
)
def test_create_validates_country_and_phone(client, bearer, ada, fields, expected):
    response = client.post(
        ADDRESSES, {**HOME, **fields}, content_type="application/json", **bearer(ada)
    )
    if expected:
        assert field_errors(response) == expected
        assert not Address.objects.exists()
    else:
        assert response.status_code == 201
        assert response.json()["phone"] == "+12125550100"


def test_list_is_paginated_and_only_the_callers(client, bearer, ada, grace):
    first = add_address(ada, label="first")
    second = add_address(ada, label="second")
    add_address(ada, label="third")
    add_address(grace, label="not yours")

    response = client.get(ADDRESSES, {"page_size": 2}, **bearer(ada))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [item["id"] for item in body["results"]] == [str(first.id), str(second.id)]
    assert body["next"] is not None
    page_two = client.get(body["next"], **bearer(ada)).json()
    assert [item["label"] for item in page_two["results"]] == ["third"]


def test_retrieve_update_and_delete(client, bearer, ada):
    address = add_address(ada, company="Analytical Engines", phone="+49301234567")
    headers = bearer(ada)
    assert client.get(detail_url(address.id), **headers).json()["company"] == "Analytical Engines"

    patched = client.patch(
        detail_url(address.id), {"city": "Hamburg"}, content_type="application/json", **headers
    )
    assert patched.status_code == 200
    assert (patched.json()["city"], patched.json()["company"]) == ("Hamburg", "Analytical Engines")

    # PUT replaces: optional fields left out are reset.
    replaced = client.put(
        detail_url(address.id),
        {"line1": "Rue de Rivoli 1", "city": "Paris", "country": "fr"},
        content_type="application/json",
        **headers,
    )
    assert replaced.status_code == 200, replaced.content
    stored = Address.objects.get(id=address.id)
    assert (stored.line1, stored.city, stored.country) == ("Rue de Rivoli 1", "Paris", "FR")
    assert (stored.company, stored.label, stored.phone) == ("", "", "")

    assert client.delete(detail_url(address.id), **headers).status_code == 204
    assert not Address.objects.filter(id=address.id).exists()
    assert client.get(detail_url(address.id), **headers).status_code == 404


def test_invalid_update_changes_nothing(client, bearer, ada):
    address = add_address(ada)
    response = client.patch(
        detail_url(address.id),
        {"city": "Munich", "country": "ZZ"},
        content_type="application/json",
        **bearer(ada),
    )
    assert field_errors(response) == {("country", "invalid_country")}
    stored = Address.objects.get(id=address.id)
    assert (stored.city, stored.country) == ("Berlin", "DE")


def test_another_customers_address_is_not_found(client, bearer, ada, grace):
    address = add_address(ada)
    headers = bearer(grace)
    url = detail_url(address.id)
    for response in (
        client.get(url, **headers),
        client.patch(url, {"city": "Stolen"}, content_type="application/json", **headers),
        client.put(url, {**HOME, "city": "Stolen"}, content_type="application/json", **headers),
        client.delete(url, **headers),
    ):
        assert response.status_code == 404
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "not_found"
    stored = Address.objects.get(id=address.id)
    assert stored.city == "Berlin"
    assert client.get(ADDRESSES, **headers).json()["count"] == 0


def test_setting_a_default_clears_the_previous_one(client, bearer, ada):
    headers = bearer(ada)
    first = client.post(
        ADDRESSES,
        {**HOME, "is_default_shipping": True, "is_default_billing": True},
        content_type="application/json",
        **headers,
    ).json()
    second = client.post(
        ADDRESSES,
        {**HOME, "label": "Office", "is_default_shipping": True},
        content_type="application/json",
        **headers,
    ).json()

    def defaults():
        return {
            (str(a.id), a.is_default_shipping, a.is_default_billing)
            for a in Address.objects.filter(user=ada)
        }

    assert defaults() == {(first["id"], False, True), (second["id"], True, False)}

    response = client.patch(
        detail_url(first["id"]),
        {"is_default_shipping": True},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 200
    assert defaults() == {(first["id"], True, True), (second["id"], False, False)}


def test_database_refuses_two_defaults_of_a_kind(ada):
    add_address(ada, is_default_billing=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        add_address(ada, is_default_billing=True)


def test_defaults_are_per_user(client, bearer, ada, grace):
    mine = add_address(ada, is_default_shipping=True)
    response = client.post(
        ADDRESSES,
        {**HOME, "is_default_shipping": True},
        content_type="application/json",
        **bearer(grace),
    )
    assert response.status_code == 201
    assert Address.objects.get(id=mine.id).is_default_shipping is True


def test_at_most_fifty_addresses(client, bearer, ada):
    for number in range(ADDRESS_LIMIT):
        add_address(ada, label=f"address {number}")
    response = client.post(ADDRESSES, HOME, content_type="application/json", **bearer(ada))
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "address_limit_reached"
    assert Address.objects.filter(user=ada).count() == ADDRESS_LIMIT
    # Deleting one makes room again.
    Address.objects.filter(user=ada).first().delete()
    response = client.post(ADDRESSES, HOME, content_type="application/json", **bearer(ada))
    assert response.status_code == 201


def test_list_query_count_does_not_grow_with_addresses(
    client, bearer, ada, django_assert_max_num_queries
):
    headers = bearer(ada)
    add_address(ada)
    client.get(ADDRESSES, **headers)  # warm the user and tenant caches
    for number in range(20):
        add_address(ada, label=f"address {number}")
    # The bound leaves room for tenant and rate-limit bookkeeping (SQL when the cache is the
    # embedded database cache) but not for one query per address.
    with django_assert_max_num_queries(20) as captured:
        response = client.get(ADDRESSES, **headers)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 20
    sql = [query["sql"] for query in captured.captured_queries]
    assert len([q for q in sql if '"accounts_address"' in q]) == 2  # a count and one page
    assert not [q for q in sql if 'FROM "accounts_user"' in q]  # the user came from the cache


class TestAnotherShop:
    HOST = "other.shop.test"

    @pytest.fixture
    def other_customer(self, settings):
        settings.ALLOWED_HOSTS = [self.HOST, "testserver"]
        shop = TenantDomainFactory(domain=self.HOST).tenant
        with tenant_context(shop.id):
            user = User.objects.create_user("ada@example.com", "a-long-passphrase-42")
            address = add_address(user, label="other shop")
            headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens_for(user)['access']}"}
        return user, address, headers

    def test_addresses_are_invisible_across_shops(self, client, bearer, ada, other_customer):
        _user, their_address, their_headers = other_customer
        mine = add_address(ada)

        theirs = client.get(ADDRESSES, HTTP_HOST=self.HOST, **their_headers).json()
        assert [item["label"] for item in theirs["results"]] == ["other shop"]
        mine_from_there = client.get(detail_url(mine.id), HTTP_HOST=self.HOST, **their_headers)
        assert mine_from_there.status_code == 404

        assert client.get(detail_url(their_address.id), **bearer(ada)).status_code == 404
        assert client.get(ADDRESSES, **bearer(ada)).json()["count"] == 1

    def test_a_token_of_another_shop_is_refused(self, client, other_customer):
        _user, _address, their_headers = other_customer
        response = client.get(ME, **their_headers)
        assert response.status_code == 401
        assert response.json()["code"] == "token_revoked"


@pytest.mark.django_db(transaction=True)
class TestConcurrentWrites:
    """Simultaneous requests of one customer keep the invariants (PostgreSQL, threads)."""

    THREADS = 8

    @pytest.fixture(autouse=True)
    def _postgresql(self):
        if connection.vendor != "postgresql":
            service_unavailable("PostgreSQL")

    def post_at_once(self, headers, body):
        barrier = threading.Barrier(self.THREADS, timeout=30)
        responses = [None] * self.THREADS
        errors = []

        def send(index):
            try:
                client = Client()
                barrier.wait()
                responses[index] = client.post(
                    ADDRESSES, body, content_type="application/json", **headers
                )
            except Exception as error:  # reported by the main thread
                errors.append(error)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=send, args=(i,)) for i in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        assert all(not thread.is_alive() for thread in threads)
        return responses

    def test_one_default_shipping_address_however_many_arrive_at_once(self, bearer, ada):
        responses = self.post_at_once(bearer(ada), {**HOME, "is_default_shipping": True})
        assert [r.status_code for r in responses] == [201] * self.THREADS
        assert Address.objects.filter(user=ada).count() == self.THREADS
        assert Address.objects.filter(user=ada, is_default_shipping=True).count() == 1

    def test_the_limit_holds_under_concurrent_creates(self, bearer, ada):
        for number in range(ADDRESS_LIMIT - 3):
            add_address(ada, label=f"address {number}")
        responses = self.post_at_once(bearer(ada), HOME)
        codes = sorted(r.status_code for r in responses)
        assert codes == [201] * 3 + [400] * (self.THREADS - 3)
        assert Address.objects.filter(user=ada).count() == ADDRESS_LIMIT


def test_signed_in_requests_are_served_while_the_cache_server_is_down(
    client, bearer, ada, unreachable_cache
):
    headers = bearer(ada)
    for _ in range(2):  # the user comes from the database, each time
        response = client.get(ME, **headers)
        assert response.status_code == 200, response.content
        assert response.json()["email"] == ada.email
