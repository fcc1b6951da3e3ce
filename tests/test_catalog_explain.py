"""At 100,000 products on PostgreSQL, the category + price filter of the product list uses an
index rather than scanning the table."""

from decimal import Decimal

import pytest
from django.db import connection

from conftest import service_unavailable
from emporium.catalog.fixtures import catalog_generate
from emporium.catalog.models import Category
from emporium.catalog.selectors import category_subtree_ids, product_list

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_category_and_price_filter_uses_an_index():
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL")
    catalog_generate(products=100_000, seed=3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    leaf = Category.objects.filter(parent__isnull=False).order_by("slug").first()
    queryset = product_list(
        category_ids=category_subtree_ids(slug=leaf.slug),
        min_price=Decimal("10"),
        max_price=Decimal("20"),
        ordering="price",
    )
    plan = queryset[:20].explain()
    assert "Index" in plan, plan
    assert "Seq Scan on catalog_product" not in plan, plan
    assert len(list(queryset[:20])) == 20
