"""Fixtures of the search tests: a small fixed catalog and a second shop."""

from decimal import Decimal
from itertools import count

import pytest

from emporium.catalog.models import Category, Product
from emporium.inventory.models import Stock
from tests.factories import TenantDomainFactory

OTHER_HOST = "other.shop.test"
_numbers = count(1)


def make_category(slug, *, parent=None, is_active=True):
    return Category.objects.create(
        name=slug.replace("-", " ").title(), slug=slug, parent=parent, is_active=is_active
    )


def make_product(name, *, price="10.00", quantity=0, sku=None, **fields):
    number = next(_numbers)
    product = Product.objects.create(
        name=name,
        slug=fields.pop("slug", name.lower().replace(" ", "-")),
        sku=sku or f"SKU-{number}",
        price=Decimal(price),
        **fields,
    )
    Stock.objects.create(product=product, quantity=quantity)
    return product


@pytest.fixture
def catalog(db):
    """Electronics (Computers, Audio) and Home, with a few products."""
    electronics = make_category("electronics")
    computers = make_category("computers", parent=electronics)
    audio = make_category("audio", parent=electronics)
    home = make_category("home")
    products = {
        "laptop": make_product("Laptop", price="999.00", quantity=5, category=computers),
        "sleeve": make_product(
            "Laptop Sleeve", price="25.00", quantity=0, category=computers, sku="ZX-9000"
        ),
        "dock": make_product(
            "Docking Station",
            price="150.00",
            quantity=3,
            category=computers,
            description="Connects any laptop to two screens.",
        ),
        "headphones": make_product(
            "Wireless Headphones", price="199.00", quantity=10, category=audio
        ),
        "lamp": make_product("Desk Lamp", price="35.00", quantity=2, category=home),
        "mug": make_product("Coffee Mug", price="9.50", quantity=7, category=home),
    }
    return {"electronics": electronics, "computers": computers, "home": home, **products}


@pytest.fixture
def other_shop(settings, db):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, OTHER_HOST]
    return TenantDomainFactory(domain=OTHER_HOST).tenant


@pytest.fixture
def eager_tasks(settings):
    """Celery tasks run in-process."""
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _no_response_cache(monkeypatch):
    """These tests follow the index through writes made without a commit; the response cache
    (invalidated after commit) is tested in emporium/catalog/tests/test_cache.py."""
    from emporium.search.api import ProductSearchView

    monkeypatch.setattr(ProductSearchView, "server_cache_namespaces", ())
