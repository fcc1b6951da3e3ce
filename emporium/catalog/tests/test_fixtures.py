"""Generated catalogs for demos and benchmarks."""

import io

import pytest
from django.core.management import call_command

from emporium.accounts.models import User
from emporium.catalog.models import Category, Product, ProductImage
from emporium.core.context import tenant_context
from emporium.inventory.models import Stock
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_seed_demo_data_is_idempotent(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call_command("seed_demo_data", stdout=io.StringIO())
    again = io.StringIO()
    call_command("seed_demo_data", stdout=again)
    assert "0 product(s), 0 image(s), 0 customer(s) added" in again.getvalue()
    assert Product.objects.count() == 200
    assert Stock.objects.count() == 200
    images = ProductImage.objects.all()
    assert images.count() == 200
    assert set(images.values_list("status", flat=True)) == {"ready"}
    assert User.objects.filter(email__endswith="@demo.emporium.test").count() == 5
    assert Category.objects.filter(parent__isnull=True).count() == 3
    assert not Product.objects.filter(category__parent__isnull=True).exists()  # leaves only


def test_generate_fixtures_is_deterministic_and_scoped_to_the_shop(django_assert_max_num_queries):
    out = io.StringIO()
    with django_assert_max_num_queries(150):  # bulk inserts, not 2 queries per product
        call_command("generate_fixtures", "--products", "1200", "--seed", "7", stdout=out)
    assert "Created 1200 products" in out.getvalue()
    first = list(Product.objects.order_by("sku").values_list("name", "price")[:5])
    other = TenantFactory()
    with tenant_context(other.id):
        call_command("generate_fixtures", "--products", "5", "--seed", "7", stdout=io.StringIO())
        assert list(Product.objects.order_by("sku").values_list("name", "price")) == first
    assert Product.objects.count() == 1200
    assert Product.unscoped.count() == 1205
