"""At 100,000 products on PostgreSQL, a search query is answered through the search indexes
rather than by scanning the table."""

import pytest
from django.db import connection

from conftest import service_unavailable
from emporium.catalog.fixtures import catalog_generate
from emporium.catalog.selectors import product_list
from emporium.search.selectors import product_search_queryset

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_search_uses_the_text_and_trigram_indexes(settings):
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL")
    settings.SEARCH_BACKEND = "database"
    catalog_generate(products=100_000, seed=3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")

    words = product_search_queryset(product_list(), "merino jack")
    plan = words[:20].explain()
    assert "search_product_document" in plan, plan
    assert "Seq Scan on catalog_product" not in plan, plan
    assert len(list(words[:20])) == 20

    # No word starts with "erin": the substring pass goes through the trigram index.
    substrings = product_search_queryset(product_list(), "erin jack")
    plan = substrings[:20].explain()
    assert "search_product_name_sku_trgm" in plan, plan
    assert "Seq Scan on catalog_product" not in plan, plan
    assert len(list(substrings[:20])) == 20
