"""Generated catalogs: the demo shop for `make run` and large data sets for benchmarks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal

from django.db import transaction
from django.utils.text import slugify

from emporium.catalog.models import Category, Product
from emporium.core.context import require_current_tenant_id
from emporium.inventory.models import Stock

DEPARTMENTS = {
    "Clothing": ["Shirts", "Trousers", "Jackets", "Shoes"],
    "Home": ["Kitchen", "Lighting", "Textiles"],
    "Outdoor": ["Tents", "Backpacks", "Bikes"],
}
ADJECTIVES = ["Classic", "Urban", "Alpine", "Linen", "Merino", "Solid", "Light", "Everyday"]
COLOURS = ["Black", "Navy", "Olive", "Sand", "Red", "White", "Grey", "Blue"]


def category_tree_ensure() -> list[Category]:
    """Create the demo category tree of the current shop if missing; returns the leaves."""
    leaves: list[Category] = []
    for position, (department, children) in enumerate(DEPARTMENTS.items()):
        parent, _ = Category.objects.get_or_create(
            slug=slugify(department), defaults={"name": department, "position": position}
        )
        for child_position, child in enumerate(children):
            leaf, _ = Category.objects.get_or_create(
                slug=slugify(f"{department}-{child}"),
                defaults={"name": child, "parent": parent, "position": child_position},
            )
            leaves.append(leaf)
    return leaves


def _products(
    count: int, leaves: list[Category], rng: random.Random, start: int
) -> Iterator[tuple[Product, int]]:
    for number in range(start, start + count):
        leaf = rng.choice(leaves)
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(COLOURS)} {leaf.name.rstrip('s')} {number}"
        price = Decimal(rng.randrange(500, 50_000)) / 100
        product = Product(
            name=name,
            slug=slugify(name),
            sku=f"SKU-{number:07d}",
            description=f"{name}: a generated product for demos and benchmarks.",
            price=price,
            compare_at_price=price * Decimal("1.2") if rng.random() < 0.2 else None,
            currency="EUR",
            category=leaf,
            attributes={"colour": name.split()[1].lower()},
            rating_average=Decimal(rng.randrange(0, 501)) / 100,
            rating_count=rng.randrange(0, 200),
        )
        yield product, rng.randrange(0, 100)


def catalog_generate(*, products: int, seed: int, batch_size: int = 5000) -> int:
    """Bulk-insert `products` generated products (with stock) after the existing ones of the
    current shop; deterministic for a seed. Returns how many were created."""
    rng = random.Random(seed)  # noqa: S311 (test data, not security)
    leaves = category_tree_ensure()
    start = Product.all_objects.count() + 1
    created = 0
    pending: list[tuple[Product, int]] = []
    for item in _products(products, leaves, rng, start):
        pending.append(item)
        if len(pending) == batch_size:
            created += _insert(pending)
            pending = []
    if pending:
        created += _insert(pending)
    return created


@transaction.atomic
def _insert(items: list[tuple[Product, int]]) -> int:
    products = [product for product, _ in items]
    # bulk_create skips save(), which fills the tenant: set it here.
    tenant = require_current_tenant_id()
    for product in products:
        product.tenant_id = tenant
    Product.objects.bulk_create(products)
    Stock.objects.bulk_create(
        [
            Stock(tenant_id=tenant, product=product, quantity=quantity)
            for product, (_, quantity) in zip(products, items, strict=True)
        ]
    )
    return len(products)
