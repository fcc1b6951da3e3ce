"""CSV import and export of products over HTTP: permissions, upsert counts, dry run, row errors
with line numbers, all-or-nothing vs partial, slugs, change events, background jobs with their
progress endpoint, export filters and streaming, CSV-injection escaping and the round trip."""

import csv
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporium.catalog import events, exports, imports, services
from emporium.catalog.models import Product, ProductImportJob, ProductSlugRedirect
from emporium.core.context import tenant_context
from emporium.inventory.models import Stock
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/products/import/"
EXPORT = "/api/v1/products/export/"
PROBLEM = "application/problem+json"
HOST_B = "b.shop.test"
HEADER = "sku,name,price,currency,category,stock_quantity\n"


@pytest.fixture
def staff(make_user, bearer):
    return bearer(make_user(email="staff@example.com", is_staff=True))


@pytest.fixture
def customer(make_user, bearer):
    return bearer(make_user(email="customer@example.com"))


@pytest.fixture
def kitchen():
    return services.category_create(name="Kitchen")


@pytest.fixture(autouse=True)
def private_files(settings, tmp_path):
    settings.CATALOG_IMPORT_ROOT = tmp_path / "imports"
    return settings.CATALOG_IMPORT_ROOT


@pytest.fixture
def eager():
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def make_product(**fields):
    values = {"name": "Espresso Cup", "sku": "CUP-1", "price": Decimal("12.50"), "currency": "EUR"}
    values.update(fields)
    return services.product_create(**values)


def upload(client, headers, text, *, name="products.csv", **fields):
    data = text.encode() if isinstance(text, str) else text
    form = {"file": SimpleUploadedFile(name, data, content_type="text/csv")}
    form.update({key: str(value).lower() for key, value in fields.items()})
    return client.post(IMPORT, form, **headers)


def errors_of(response):
    return {(e["line"], e["field"], e["code"]) for e in response.json()["errors"]}


def counts(body):
    return body["created"], body["updated"], body["unchanged"], body["error_count"]


def exported_rows(response):
    assert response.streaming
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


# --- Permissions ---------------------------------------------------------------------------


def test_anonymous_is_401_and_customer_403(client, customer):
    job_url = f"{IMPORT}{ProductImportJob().id}/"
    for call in (
        lambda headers: upload(client, headers, HEADER + "A,Cup,1.00,EUR,,1\n"),
        lambda headers: client.get(EXPORT, **headers),
        lambda headers: client.get(job_url, **headers),
    ):
        anonymous = call({})
        assert anonymous.status_code == 401
        assert anonymous["Content-Type"] == PROBLEM
        forbidden = call(customer)
        assert forbidden.status_code == 403
        assert forbidden.json()["code"] == "permission_denied"
    assert not Product.objects.exists()


# --- Import: upsert ------------------------------------------------------------------------


def test_creates_updates_and_counts_unchanged(client, staff, kitchen):
    cheap = make_product(sku="CUP-1", name="Cup", price=Decimal("5.00"), stock_quantity=3)
    same = make_product(sku="CUP-2", name="Saucer", price=Decimal("2.00"), stock_quantity=7)
    same_updated_at = same.updated_at
    text = (
        HEADER
        + "CUP-1,Cup,6.50,EUR,kitchen,3\n"
        + "CUP-2,Saucer,2.00,EUR,,7\n"
        + "\n"  # blank lines are skipped
        + "CUP-3,Milk Jug,19.90,EUR,kitchen,12\n"
    )
    response = upload(client, staff, text)
    assert response.status_code == 200, response.content
    body = response.json()
    assert counts(body) == (1, 1, 1, 0)
    assert body["written"] is True
    assert body["total_rows"] == 3
    cheap.refresh_from_db()
    assert cheap.price == Decimal("6.50")
    assert cheap.category == kitchen
    same.refresh_from_db()
    assert same.updated_at == same_updated_at  # unchanged rows are not written
    jug = Product.objects.select_related("stock").get(sku="CUP-3")
    assert (jug.name, jug.slug, jug.price, jug.currency) == (
        "Milk Jug",
        "milk-jug",
        Decimal("19.90"),
        "EUR",
    )
    assert jug.stock.quantity == 12
    assert jug.category == kitchen


def test_every_column_is_read(client, staff, kitchen):
    text = (
        "Stock_Quantity,SKU,name,slug,description,price,compare_at_price,currency,category,"
        "attributes,is_active,publish_at,unpublish_at\n"
        '4,T-1,Tee,the-tee,"Soft, warm\nand blue",20.5,25,USD,kitchen,"{""size"": ""M""}",no,'
        "2030-01-01T10:00:00+02:00,2030-02-01\n"
    )
    response = upload(client, staff, "\ufeff" + text)  # a byte-order mark is fine
    assert response.status_code == 200, response.content
    tee = Product.objects.select_related("stock").get(sku="T-1")
    assert tee.slug == "the-tee"
    assert tee.description == "Soft, warm\nand blue"
    assert (tee.price, tee.compare_at_price, tee.currency) == (
        Decimal("20.50"),
        Decimal("25.00"),
        "USD",
    )
    assert tee.attributes == {"size": "M"}
    assert tee.is_active is False
    assert tee.publish_at.isoformat() == "2030-01-01T08:00:00+00:00"
    assert tee.unpublish_at.isoformat() == "2030-02-01T00:00:00+00:00"  # no offset: UTC
    assert tee.stock.quantity == 4


def test_empty_cells_clear_optional_fields_and_keep_required_ones(client, staff, kitchen):
    product = make_product(
        sku="CUP-1",
        price=Decimal("10.00"),
        compare_at_price=Decimal("12.00"),
        category="kitchen",
        description="Fine china",
        stock_quantity=5,
    )
    text = "sku,name,price,compare_at_price,category,stock_quantity\nCUP-1,,,,,\n"
    response = upload(client, staff, text)
    assert response.status_code == 200, response.content
    assert counts(response.json()) == (0, 1, 0, 0)
    product.refresh_from_db()
    assert (product.name, product.price) == ("Espresso Cup", Decimal("10.00"))
    assert product.compare_at_price is None
    assert product.category is None
    assert product.description == "Fine china"  # column left out: untouched
    assert Stock.objects.get(product=product).quantity == 5


def test_dry_run_reports_and_writes_nothing(client, staff, django_capture_on_commit_callbacks):
    product = make_product(sku="CUP-1", price=Decimal("5.00"))
    text = HEADER + "CUP-1,Espresso Cup,6.00,EUR,,0\nCUP-2,Mug,8.00,EUR,,1\nCUP-3,Bad,x,EUR,,1\n"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(client, staff, text, dry_run=True)
    assert response.status_code == 200, response.content
    body = response.json()
    assert counts(body) == (1, 1, 0, 1)
    assert (body["dry_run"], body["written"]) == (True, False)
    assert errors_of(response) == {(4, "price", "invalid")}
    product.refresh_from_db()
    assert product.price == Decimal("5.00")
    assert Product.objects.count() == 1
    assert callbacks == []


# --- Import: errors ------------------------------------------------------------------------


BAD_FILE = (
    "sku,name,price,category,attributes\n"
    "A-1,Good,1.00,,\n"  # line 2
    "A-2,Bad price,1.234,,\n"  # line 3
    "A-3,Bad category,1.00,nowhere,\n"  # line 4
    'A-4,Bad JSON,1.00,,"{not json"\n'  # line 5
    "A-1,Duplicate,1.00,,\n"  # line 6
    "A-5,,-2,,[1]\n"  # line 7
    "A-6,Too many,1.00,,,extra\n"  # line 8
)
BAD_FILE_ERRORS = {
    (3, "price", "max_decimal_places"),
    (4, "category", "does_not_exist"),
    (5, "attributes", "invalid_json"),
    (6, "sku", "duplicate"),
    (7, "name", "required"),
    (7, "price", "min_value"),
    (7, "attributes", "not_an_object"),
    (8, "", "wrong_column_count"),
}


def test_invalid_rows_reject_the_whole_file(client, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(client, staff, BAD_FILE)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert body["written"] is False
    assert body["error_count"] == len(BAD_FILE_ERRORS)
    assert errors_of(response) == BAD_FILE_ERRORS
    assert all(error["message"] for error in body["errors"])
    assert not Product.objects.exists()
    assert callbacks == []


def test_partial_writes_the_valid_rows(client, staff):
    response = upload(client, staff, BAD_FILE, partial=True)
    assert response.status_code == 200, response.content
    body = response.json()
    assert counts(body) == (1, 0, 0, len(BAD_FILE_ERRORS))
    assert body["written"] is True
    assert errors_of(response) == BAD_FILE_ERRORS
    assert list(Product.objects.values_list("sku", "name")) == [("A-1", "Good")]
    assert Stock.objects.get(product__sku="A-1").quantity == 0


def test_cross_field_rules_name_the_field(client, staff):
    make_product(sku="CUP-1", price=Decimal("10.00"))
    text = (
        "sku,compare_at_price,publish_at,unpublish_at,currency\n"
        "CUP-1,9.00,,,EUR\n"
        "CUP-1X,,,,\n"
        "CUP-1,,2030-01-02T00:00:00Z,2030-01-01T00:00:00Z,eur\n"
    )
    response = upload(client, staff, text)
    assert response.status_code == 400
    assert errors_of(response) == {
        (2, "compare_at_price", "lower_than_price"),
        (3, "name", "required"),
        (3, "price", "required"),
        (4, "sku", "duplicate"),
    }


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"name,price\nCup,1.00\n", "missing_columns"),
        (b"sku,name,colour,size\nA,Cup,red,M\n", "unknown_columns"),
        (b"sku,name,SKU\nA,Cup,A\n", "duplicate_columns"),
        (b"\n \n", "invalid_csv"),
        ("sku,name\nA,Caf\u00e9\n".encode("latin-1"), "invalid_csv"),
        (b'sku,name\nA,"Cup\n', "invalid_csv"),
        (b"sku,name\nA,Cup\x00\n", "invalid_csv"),
    ],
)
def test_unusable_files_are_400(client, staff, content, code):
    response = upload(client, staff, content)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code
    assert not Product.objects.exists()


def test_unknown_columns_are_named(client, staff):
    response = upload(client, staff, "sku,colour,weight\nA,red,1\n")
    assert "colour, weight" in response.json()["detail"]


def test_size_and_row_limits(client, staff, settings):
    settings.CATALOG_IMPORT_MAX_BYTES = 100
    response = upload(client, staff, HEADER + "A,Cup,1.00,EUR,,1\n" * 10)
    assert response.status_code == 400
    assert response.json()["code"] == "file_too_large"

    settings.CATALOG_IMPORT_MAX_BYTES = 10_000
    settings.CATALOG_IMPORT_MAX_ROWS = 2
    text = HEADER + "".join(f"A-{i},Cup,1.00,EUR,,1\n" for i in range(3))
    response = upload(client, staff, text)
    assert response.status_code == 400
    assert response.json()["code"] == "file_too_large"
    assert not Product.objects.exists()


def test_missing_file_is_a_field_error(client, staff):
    response = client.post(IMPORT, {"dry_run": "true"}, **staff)
    assert response.status_code == 400
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {("file", "required")}


# --- Import: slugs -------------------------------------------------------------------------


def test_generated_slugs_avoid_the_database_redirects_reserved_words_and_the_file(client, staff):
    make_product(sku="OLD-1", name="Espresso Cup")  # espresso-cup
    renamed = make_product(sku="OLD-2", name="Mug")
    services.product_update(product=renamed, data={"slug": "big-mug"})  # "mug" is a redirect
    text = (
        "sku,name,price\n"
        "N-1,Espresso Cup,1.00\n"
        "N-2,Espresso Cup,1.00\n"
        "N-3,Mug,1.00\n"
        "N-4,Import,1.00\n"
    )
    response = upload(client, staff, text)
    assert response.status_code == 200, response.content
    slugs = dict(Product.objects.filter(sku__startswith="N-").values_list("sku", "slug"))
    assert slugs == {
        "N-1": "espresso-cup-2",
        "N-2": "espresso-cup-3",
        "N-3": "mug-2",
        "N-4": "import-2",
    }


def test_explicit_slugs_must_be_free(client, staff):
    make_product(sku="OLD-1", name="Espresso Cup")
    text = (
        "sku,name,price,slug\n"
        "N-1,Cup,1.00,espresso-cup\n"  # taken in the database
        "N-2,Cup,1.00,cup\n"
        "N-3,Cup,1.00,cup\n"  # taken by line 3
        "N-4,Cup,1.00,export\n"  # reserved
        "N-5,Cup,1.00,not a slug\n"
    )
    response = upload(client, staff, text, partial=True)
    assert errors_of(response) == {
        (2, "slug", "unique"),
        (4, "slug", "unique"),
        (5, "slug", "reserved"),
        (6, "slug", "invalid"),
    }
    assert list(Product.objects.filter(sku__startswith="N-").values_list("slug", flat=True)) == [
        "cup"
    ]


def test_a_new_slug_renames_and_keeps_a_redirect(client, staff):
    product = make_product(sku="CUP-1")
    response = upload(client, staff, "sku,slug\nCUP-1,classic-cup\n")
    assert counts(response.json()) == (0, 1, 0, 0)
    product.refresh_from_db()
    assert product.slug == "classic-cup"
    redirect = ProductSlugRedirect.objects.get(slug="espresso-cup")
    assert redirect.product_id == product.id
    assert client.get("/api/v1/products/espresso-cup/").status_code == 301


# --- Import: events and queries ------------------------------------------------------------


def test_change_events_name_created_and_updated_products(
    client, staff, django_capture_on_commit_callbacks
):
    updated = make_product(sku="CUP-1", price=Decimal("5.00"))
    unchanged = make_product(sku="CUP-2", name="Mug", price=Decimal("7.00"))
    stocked = make_product(sku="CUP-3", name="Jug", price=Decimal("9.00"))
    received = []

    def receiver(sender, tenant_id, product_ids, **kwargs):
        received.append(product_ids)

    events.product_changes.connect(receiver)
    try:
        text = "sku,price,stock_quantity\nCUP-1,6.00,\nCUP-2,7.00,\nCUP-3,,4\n"
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(client, staff, text)
    finally:
        events.product_changes.disconnect(receiver)
    assert response.status_code == 200, response.content
    changed = frozenset().union(*received)
    assert changed == {updated.id, stocked.id}
    assert unchanged.id not in changed

    received.clear()
    events.product_changes.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            upload(client, staff, "sku,name,price\nNEW-1,New,1.00\n")
    finally:
        events.product_changes.disconnect(receiver)
    assert frozenset().union(*received) == {Product.objects.get(sku="NEW-1").id}


def _file_of(rows, prefix, name=None):
    """An existing product to update plus `rows` new ones named `name item`."""
    make_product(sku=f"{prefix}-OLD", name=f"{prefix} old")
    lines = [f"{prefix}-OLD,{prefix} old,3.00,EUR,kitchen,2"]
    lines += [f"{prefix}-{i},{name or prefix} item,{i}.00,EUR,kitchen,{i}" for i in range(rows)]
    return HEADER + "\n".join(lines) + "\n"


def test_query_count_does_not_grow_with_the_rows(
    client, staff, kitchen, django_assert_max_num_queries
):
    upload(client, staff, _file_of(1, "warm"))  # per-process caches (tenant, user) fill here
    text = _file_of(3, "few")
    with CaptureQueriesContext(connection) as few:
        assert counts(upload(client, staff, text).json()) == (3, 1, 0, 0)
    text = _file_of(40, "many")
    with django_assert_max_num_queries(len(few)):
        assert counts(upload(client, staff, text).json()) == (40, 1, 0, 0)
    # Names already taken in the database and within the file: numbered slugs, found with two
    # more queries, not one per row.
    text = _file_of(40, "again", name="many")
    with django_assert_max_num_queries(len(few) + 2):
        assert counts(upload(client, staff, text).json()) == (40, 1, 0, 0)
    assert Product.objects.filter(slug="many-item-80").exists()


def test_progress_is_reported_per_chunk():
    text = "sku,name,price\n" + "".join(f"P-{i},Item,1.00\n" for i in range(5))
    seen = []
    report = imports.product_import(
        source=io.BytesIO(text.encode()), chunk_size=2, on_progress=seen.append
    )
    assert seen == [2, 4, 5]
    assert report.created == 5


# --- Import: background jobs ---------------------------------------------------------------


def test_large_files_become_a_job_with_progress(
    client, staff, settings, eager, private_files, django_capture_on_commit_callbacks
):
    settings.CATALOG_IMPORT_SYNC_MAX_BYTES = 10
    make_product(sku="CUP-1", price=Decimal("5.00"))
    text = HEADER + "CUP-1,Espresso Cup,6.00,EUR,,0\nCUP-2,Mug,8.00,EUR,,1\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, staff, text, name="spring.csv")
    assert response.status_code == 202, response.content
    created = response.json()
    assert created["status"] == "pending"
    assert response["Location"] == created["url"]
    assert created["url"].endswith(f"{IMPORT}{created['id']}/")

    job = client.get(created["url"].removeprefix("http://testserver"), **staff)
    assert job.status_code == 200
    body = job.json()
    assert body["status"] == "succeeded"
    assert body["filename"] == "spring.csv"
    assert (body["total_rows"], body["processed_rows"]) == (2, 2)
    assert counts(body) == (1, 1, 0, 0)
    assert body["written"] is True
    assert body["finished_at"] is not None
    assert Product.objects.get(sku="CUP-1").price == Decimal("6.00")
    assert Product.objects.filter(sku="CUP-2").exists()
    assert not [p for p in private_files.rglob("*") if p.is_file()]  # file removed when done


def test_a_job_with_invalid_rows_fails_and_writes_nothing(
    client, staff, settings, eager, django_capture_on_commit_callbacks
):
    settings.CATALOG_IMPORT_SYNC_MAX_BYTES = 10
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, staff, BAD_FILE)
    assert response.status_code == 202
    body = client.get(f"{IMPORT}{response.json()['id']}/", **staff).json()
    assert body["status"] == "failed"
    assert body["written"] is False
    assert body["error_count"] == len(BAD_FILE_ERRORS)
    assert {(e["line"], e["field"], e["code"]) for e in body["errors"]} == BAD_FILE_ERRORS
    assert not Product.objects.exists()


def test_a_partial_dry_run_job_succeeds_without_writing(
    client, staff, settings, eager, django_capture_on_commit_callbacks
):
    settings.CATALOG_IMPORT_SYNC_MAX_BYTES = 10
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, staff, BAD_FILE, dry_run=True, partial=True)
    body = client.get(f"{IMPORT}{response.json()['id']}/", **staff).json()
    assert body["status"] == "succeeded"
    assert counts(body) == (1, 0, 0, len(BAD_FILE_ERRORS))
    assert not Product.objects.exists()


def test_a_job_with_a_bad_header_is_refused_at_once(client, staff, settings, private_files):
    settings.CATALOG_IMPORT_SYNC_MAX_BYTES = 10
    response = upload(client, staff, "sku,colour\nA,red\n")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_columns"
    assert not ProductImportJob.objects.exists()
    assert not private_files.exists() or not any(private_files.rglob("*.csv"))


def test_a_job_over_the_row_limit_fails_with_file_too_large(
    client, staff, settings, eager, django_capture_on_commit_callbacks
):
    settings.CATALOG_IMPORT_SYNC_MAX_BYTES = 10
    settings.CATALOG_IMPORT_MAX_ROWS = 1
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, staff, HEADER + "A,Cup,1.00,EUR,,1\nB,Cup,1.00,EUR,,1\n")
    body = client.get(f"{IMPORT}{response.json()['id']}/", **staff).json()
    assert body["status"] == "failed"
    assert [(e["line"], e["code"]) for e in body["errors"]] == [(3, "file_too_large")]
    assert not Product.objects.exists()


def test_jobs_are_invisible_to_other_shops(
    client, staff, settings, make_user, bearer, django_capture_on_commit_callbacks
):
    settings.CATALOG_IMPORT_SYNC_MAX_BYTES = 10
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST_B]
    with django_capture_on_commit_callbacks(execute=False):
        response = upload(client, staff, HEADER + "A,Cup,1.00,EUR,,1\n")
    job_url = f"{IMPORT}{response.json()['id']}/"
    shop_b = TenantDomainFactory(domain=HOST_B).tenant
    with tenant_context(shop_b.id):
        staff_b = bearer(make_user(email="staff-b@example.com", is_staff=True))
    other = client.get(job_url, HTTP_HOST=HOST_B, **staff_b)
    assert other.status_code == 404
    assert other.json()["code"] == "not_found"
    assert client.get(job_url, **staff).json()["status"] == "pending"
    assert client.get(f"{IMPORT}{ProductImportJob().id}/", **staff).status_code == 404


def test_the_task_is_idempotent(client, staff, settings, django_capture_on_commit_callbacks):
    from emporium.catalog.tasks_imports import import_products

    settings.CATALOG_IMPORT_SYNC_MAX_BYTES = 10
    with django_capture_on_commit_callbacks(execute=False):
        response = upload(client, staff, HEADER + "A,Cup,1.00,EUR,,1\n")
    job_id = response.json()["id"]
    assert import_products.apply(args=[job_id]).get() == "succeeded"
    assert import_products.apply(args=[job_id]).get() == "succeeded"
    assert Product.objects.filter(sku="A").count() == 1
    assert ProductImportJob.objects.get(id=job_id).created_count == 1


# --- Export --------------------------------------------------------------------------------


def test_export_streams_every_product_with_the_list_filters(client, staff, kitchen):
    make_product(sku="CUP-1", name="Cup", price=Decimal("5.00"), category="kitchen")
    make_product(sku="CUP-2", name="Hidden", price=Decimal("50.00"), is_active=False)
    gone = make_product(sku="CUP-3", name="Gone", price=Decimal("7.00"))
    services.product_delete(product=gone)

    response = client.get(EXPORT, **staff)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="products-')
    rows = exported_rows(response)
    assert {row["sku"] for row in rows} == {"CUP-1", "CUP-2"}  # inactive too, deleted not
    assert list(rows[0]) == list(imports.COLUMNS)

    by_price = exported_rows(client.get(EXPORT + "?min_price=10&ordering=price", **staff))
    assert [row["sku"] for row in by_price] == ["CUP-2"]
    in_kitchen = exported_rows(client.get(EXPORT + "?category=kitchen", **staff))
    assert [row["sku"] for row in in_kitchen] == ["CUP-1"]
    with_deleted = exported_rows(client.get(EXPORT + "?include_deleted=true", **staff))
    assert {row["sku"] for row in with_deleted} == {"CUP-1", "CUP-2", "CUP-3"}

    bad = client.get(EXPORT + "?min_price=9&max_price=1", **staff)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "max_price"


def test_export_escapes_formulas_and_re_imports_unchanged(client, staff, kitchen):
    make_product(
        sku="=CMD|'/c calc'!A1",
        name="@SUM(1+1)",
        description="-minus\nand more",
        price=Decimal("12.50"),
        compare_at_price=Decimal("15.00"),
        category="kitchen",
        attributes={"color": "white", "size": ["S", "M"]},
        is_active=False,
        stock_quantity=7,
    )
    make_product(sku="Q-1", name="'quoted", description="+1", price=Decimal("0.00"))
    window = make_product(sku="W-1", name="Window", price=Decimal("1.00"))
    services.product_update(
        product=window,
        data={
            "publish_at": "2030-01-01T10:00:00.123456+00:00",
            "unpublish_at": "2031-01-01T00:00:00+00:00",
        },
    )
    Stock.objects.filter(product=window).delete()  # no stock row: exported as 0

    response = client.get(EXPORT, **staff)
    content = b"".join(response.streaming_content)
    rows = {row["sku"]: row for row in csv.DictReader(io.StringIO(content.decode()))}
    assert "'=CMD|'/c calc'!A1" in rows
    risky = rows["'=CMD|'/c calc'!A1"]
    assert risky["name"] == "'@SUM(1+1)"
    assert risky["description"] == "'-minus\nand more"
    assert (risky["price"], risky["compare_at_price"], risky["is_active"]) == (
        "12.50",
        "15.00",
        "false",
    )
    assert rows["Q-1"]["name"] == "''quoted"
    assert rows["Q-1"]["description"] == "'+1"
    assert rows["W-1"]["publish_at"] == "2030-01-01T10:00:00.123456+00:00"
    assert rows["W-1"]["stock_quantity"] == "0"

    again = upload(client, staff, content)
    assert again.status_code == 200, again.content
    assert counts(again.json()) == (0, 0, 3, 0)
    assert Product.objects.get(sku="Q-1").name == "'quoted"


def test_export_of_another_shop_is_empty(client, settings, make_user, bearer):
    make_product(sku="CUP-1")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST_B]
    shop_b = TenantDomainFactory(domain=HOST_B).tenant
    with tenant_context(shop_b.id):
        staff_b = bearer(make_user(email="staff-b@example.com", is_staff=True))
    response = client.get(EXPORT, HTTP_HOST=HOST_B, **staff_b)
    assert response.status_code == 200
    assert exported_rows(response) == []


def test_export_streams_chunk_by_chunk_under_asgi(async_client, staff):
    from asgiref.sync import async_to_sync

    for i in range(exports.ROWS_PER_CHUNK + 1):
        Product.objects.create(name=f"P{i}", slug=f"p-{i}", sku=f"P-{i}", price=Decimal("1.00"))

    async def fetch():
        headers = {"Authorization": staff["HTTP_AUTHORIZATION"]}
        response = await async_client.get(EXPORT, headers=headers)
        return response, [chunk async for chunk in response.streaming_content]

    response, chunks = async_to_sync(fetch)()
    assert response.status_code == 200
    assert response.is_async
    assert len(chunks) == 2  # rows are sent in chunks, not buffered whole
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == exports.ROWS_PER_CHUNK + 1
