"""Catalog writes: products and categories of the current shop, one transaction each.

Slugs: a product created without a slug gets one from its name (`name`, `name-2`, ...); a
rename keeps the slug (stable URLs), only an explicit new slug moves the product, and the old slug
is kept in ProductSlugRedirect so reads can answer 301. Field errors are Django ValidationErrors
keyed by field name with stable codes (`unique`, `does_not_exist`, `invalid`, ...).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from emporium.catalog import events
from emporium.catalog.models import Category, Product, ProductSlugRedirect
from emporium.core.errors import ApplicationError
from emporium.inventory import services as inventory_services
from emporium.inventory.models import Stock

SLUG_MAX_LENGTH = 255
# Enough for concurrent creators of the same name; the unique constraint decides each round.
SLUG_ATTEMPTS = 5
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# Sub-paths of products/ in the API; a product slug must not shadow them.
RESERVED_SLUGS = frozenset({"batch", "import", "export"})

# Fields the batch endpoint may change, besides `stock_quantity`.
BATCH_FIELDS = ("price", "compare_at_price", "is_active", "publish_at", "unpublish_at", "category")


class SlugTaken(ApplicationError):
    status = 409
    code = "slug_taken"


class SkuTaken(ApplicationError):
    status = 409
    code = "sku_taken"


class CategoryNotEmpty(ApplicationError):
    status = 409
    code = "category_not_empty"


class NotDeleted(ApplicationError):
    status = 404
    code = "not_found"


# --- Helpers -------------------------------------------------------------------------------


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _check_currency(currency: str) -> None:
    if not CURRENCY_RE.match(currency):
        raise _field_error(
            "currency", _("Use an ISO 4217 code of three capital letters, e.g. EUR."), "invalid"
        )


def _check_prices(*, price: Decimal, compare_at_price: Decimal | None, prefix: str = "") -> None:
    if compare_at_price is not None and compare_at_price < price:
        raise _field_error(
            f"{prefix}compare_at_price",
            _("The compare-at price must not be lower than the price."),
            "lower_than_price",
        )


def _check_window(
    *,
    publish_at: datetime.datetime | None,
    unpublish_at: datetime.datetime | None,
    prefix: str = "",
) -> None:
    if publish_at is not None and unpublish_at is not None and unpublish_at <= publish_at:
        raise _field_error(
            f"{prefix}unpublish_at",
            _("The unpublish time must be after the publish time."),
            "before_publish_at",
        )


def _slug_base(name: str) -> str:
    # Room for a "-NNN" suffix within the column's length.
    return (slugify(name) or "product")[: SLUG_MAX_LENGTH - 8].strip("-") or "product"


def _free_slug(base: str, *, exclude_product: Product | None = None) -> str:
    """The first of `base`, `base-2`, `base-3`... not used by an alive product or a redirect."""
    alive = Product.objects.filter(slug__startswith=base)
    if exclude_product is not None:
        alive = alive.exclude(pk=exclude_product.pk)
    taken = set(alive.values_list("slug", flat=True))
    taken |= set(
        ProductSlugRedirect.objects.filter(slug__startswith=base).values_list("slug", flat=True)
    )
    taken |= RESERVED_SLUGS
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


def _category_by_slug(slug: str | None, *, field: str = "category") -> Category | None:
    if slug is None:
        return None
    category: Category | None = Category.objects.filter(slug=slug).first()
    if category is None:
        raise _field_error(field, _("No category with this slug exists."), "does_not_exist")
    return category


def _check_sku_free(sku: str, *, exclude_product: Product | None = None) -> None:
    others = Product.objects.filter(sku=sku)
    if exclude_product is not None:
        others = others.exclude(pk=exclude_product.pk)
    if others.exists():
        raise _field_error("sku", _("Another product already uses this SKU."), "unique")


def _check_slug_free(slug: str, *, exclude_product: Product | None = None) -> None:
    if slug in RESERVED_SLUGS:
        raise _field_error("slug", _("This slug is reserved; choose another."), "reserved")
    others = Product.objects.filter(slug=slug)
    if exclude_product is not None:
        others = others.exclude(pk=exclude_product.pk)
    if others.exists():
        raise _field_error("slug", _("Another product already uses this slug."), "unique")


def _claim_slug(product: Product) -> None:
    """A live product owns its slug: a redirect of the same slug (to any product) is dropped."""
    ProductSlugRedirect.objects.filter(slug=product.slug).delete()


# --- Products ------------------------------------------------------------------------------


def product_create(
    *,
    name: str,
    sku: str,
    price: Decimal,
    currency: str,
    slug: str | None = None,
    description: str = "",
    compare_at_price: Decimal | None = None,
    category: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    is_active: bool = True,
    publish_at: datetime.datetime | None = None,
    unpublish_at: datetime.datetime | None = None,
    stock_quantity: int = 0,
) -> Product:
    """Create a product of the current shop and its stock row; the slug comes from the name
    unless given."""
    _check_currency(currency)
    _check_prices(price=price, compare_at_price=compare_at_price)
    _check_window(publish_at=publish_at, unpublish_at=unpublish_at)
    category_obj = _category_by_slug(category)
    base = _slug_base(name)
    for _attempt in range(SLUG_ATTEMPTS):
        try:
            with transaction.atomic():
                _check_sku_free(sku)
                if slug is not None:
                    _check_slug_free(slug)
                product = Product(
                    name=name,
                    slug=slug if slug is not None else _free_slug(base),
                    sku=sku,
                    description=description,
                    price=price,
                    compare_at_price=compare_at_price,
                    currency=currency,
                    category=category_obj,
                    attributes=dict(attributes or {}),
                    is_active=is_active,
                    publish_at=publish_at,
                    unpublish_at=unpublish_at,
                )
                product.save(force_insert=True)
                _claim_slug(product)
                inventory_services.stock_set_many(quantities={product.pk: stock_quantity})
                events.products_changed([product.pk])
                return product
        except IntegrityError:
            # Lost a race: re-run the checks so the caller sees a field error, or pick the
            # next free generated slug.
            continue
    raise _field_error("slug", _("Could not find a free slug; give one explicitly."), "unique")


def product_update(*, product: Product, data: Mapping[str, Any]) -> Product:
    """Change the given fields of a product. A new `slug` renames it and records the old slug
    for redirects; a new `name` keeps the slug. `stock_quantity` sets the stock on hand."""
    changes = dict(data)
    stock_quantity = changes.pop("stock_quantity", None)
    if "currency" in changes:
        _check_currency(changes["currency"])
    if "category" in changes:
        changes["category"] = _category_by_slug(changes["category"])
    _check_prices(
        price=changes.get("price", product.price),
        compare_at_price=changes.get("compare_at_price", product.compare_at_price),
    )
    _check_window(
        publish_at=changes.get("publish_at", product.publish_at),
        unpublish_at=changes.get("unpublish_at", product.unpublish_at),
    )
    try:
        with transaction.atomic():
            if "sku" in changes:
                _check_sku_free(changes["sku"], exclude_product=product)
            old_slug = product.slug
            new_slug = changes.get("slug", old_slug)
            if new_slug != old_slug:
                _check_slug_free(new_slug, exclude_product=product)
            if "attributes" in changes:
                changes["attributes"] = dict(changes["attributes"] or {})
            for field, value in changes.items():
                setattr(product, field, value)
            product.save()
            if new_slug != old_slug:
                _claim_slug(product)
                ProductSlugRedirect.objects.update_or_create(
                    slug=old_slug, defaults={"product": product}
                )
            if stock_quantity is not None:
                inventory_services.stock_set_many(quantities={product.pk: stock_quantity})
                product.stock = Stock.objects.get(product=product)
            events.products_changed([product.pk])
    except IntegrityError as exc:
        # A concurrent writer took the sku or slug between the check and the write.
        raise _field_error(
            "slug", _("Another product already uses this slug or SKU."), "unique"
        ) from exc
    return product


def product_delete(*, product: Product) -> None:
    """Soft-delete a product: it disappears from the shop, its slug and SKU become free."""
    with transaction.atomic():
        product.delete()
        events.products_changed([product.pk])


def product_restore(*, slug: str) -> Product:
    """Bring back the most recently deleted product with this slug."""
    product: Product | None = (
        Product.all_objects.filter(slug=slug, deleted_at__isnull=False)
        .order_by("-deleted_at")
        .first()
    )
    if product is None:
        raise NotDeleted(_("No deleted product has this slug."))
    with transaction.atomic():
        if Product.objects.filter(slug=product.slug).exists():
            raise SlugTaken(_("A live product uses this slug now; rename it first."))
        if Product.objects.filter(sku=product.sku).exists():
            raise SkuTaken(_("A live product uses this SKU now; change it first."))
        try:
            with transaction.atomic():
                product.restore()
                _claim_slug(product)
                events.products_changed([product.pk])
        except IntegrityError as exc:
            raise SlugTaken(_("A live product uses this slug or SKU now.")) from exc
    return product


@dataclass(frozen=True)
class BatchItem:
    """One product's changes in a batch update, addressed by SKU; only `fields` change."""

    sku: str
    fields: Mapping[str, Any]


def product_batch_update(*, items: Sequence[BatchItem]) -> list[Product]:
    """Update many products atomically with bulk queries. Errors name the item by index
    (`items[3].price`); nothing is written when any item is invalid."""
    errors: dict[str, ValidationError] = {}

    def fail(index: int, field: str, message: str, code: str) -> None:
        errors.setdefault(f"items[{index}].{field}", ValidationError(message, code=code))

    skus = [item.sku for item in items]
    products = {
        p.sku: p for p in Product.objects.filter(sku__in=skus).select_related("stock", "category")
    }
    category_slugs = {
        item.fields["category"] for item in items if item.fields.get("category") is not None
    }
    categories = {c.slug: c for c in Category.objects.filter(slug__in=category_slugs)}

    seen: set[str] = set()
    changed_fields: set[str] = set()
    stock_quantities: dict[UUID, int] = {}
    now = timezone.now()
    for index, item in enumerate(items):
        if item.sku in seen:
            fail(index, "sku", _("This SKU appears more than once in the batch."), "duplicate")
            continue
        seen.add(item.sku)
        product = products.get(item.sku)
        if product is None:
            fail(index, "sku", _("No product with this SKU exists."), "does_not_exist")
            continue
        fields = dict(item.fields)
        stock_quantity = fields.pop("stock_quantity", None)
        if "category" in fields and fields["category"] is not None:
            category = categories.get(fields["category"])
            if category is None:
                fail(index, "category", _("No category with this slug exists."), "does_not_exist")
                continue
            fields["category"] = category
        try:
            _check_prices(
                price=fields.get("price", product.price),
                compare_at_price=fields.get("compare_at_price", product.compare_at_price),
                prefix=f"items[{index}].",
            )
            _check_window(
                publish_at=fields.get("publish_at", product.publish_at),
                unpublish_at=fields.get("unpublish_at", product.unpublish_at),
                prefix=f"items[{index}].",
            )
        except ValidationError as exc:
            for key, value in exc.error_dict.items():
                errors.setdefault(key, value[0])
            continue
        for field, value in fields.items():
            setattr(product, field, value)
            changed_fields.add(field)
        if stock_quantity is not None:
            # A missing one-to-one row raises an AttributeError subclass: getattr's default.
            stock: Stock | None = getattr(product, "stock", None)
            reserved = stock.reserved if stock is not None else 0
            if stock_quantity < reserved:
                fail(
                    index,
                    "stock_quantity",
                    _("Unpaid orders hold %(reserved)d units: the quantity cannot be lower.")
                    % {"reserved": reserved},
                    "below_reserved",
                )
                continue
            stock_quantities[product.pk] = stock_quantity
    if errors:
        raise ValidationError(errors)

    updated = [products[sku] for sku in dict.fromkeys(skus)]
    with transaction.atomic():
        if changed_fields:
            for product in updated:
                product.updated_at = now
            Product.objects.bulk_update(updated, [*sorted(changed_fields), "updated_at"])
        if stock_quantities:
            inventory_services.stock_set_many(quantities=stock_quantities)
            products_by_id = {product.pk: product for product in updated}
            for stock in Stock.objects.filter(product_id__in=list(stock_quantities)):
                products_by_id[stock.product_id].stock = stock
        events.products_changed(product.pk for product in updated)
    return updated


# --- Categories ----------------------------------------------------------------------------


def _check_no_cycle(*, category: Category, parent: Category | None) -> None:
    node = parent
    # A tree deeper than the number of categories would itself be a cycle; the bound keeps a
    # corrupt tree from looping forever.
    for _step in range(Category.objects.count() + 1):
        if node is None:
            return
        if node.pk == category.pk:
            break
        node = node.parent
    raise _field_error(
        "parent", _("A category cannot be placed below itself or its descendants."), "cycle"
    )


def category_create(
    *,
    name: str,
    slug: str | None = None,
    parent: str | None = None,
    description: str = "",
    position: int = 0,
    is_active: bool = True,
) -> Category:
    """Create a category of the current shop; the slug comes from the name unless given."""
    parent_obj = _category_by_slug(parent, field="parent")
    final_slug = slug or slugify(name) or "category"
    if Category.objects.filter(slug=final_slug).exists():
        raise _field_error("slug", _("Another category already uses this slug."), "unique")
    try:
        with transaction.atomic():
            category = Category(
                name=name,
                slug=final_slug,
                parent=parent_obj,
                description=description,
                position=position,
                is_active=is_active,
            )
            category.save(force_insert=True)
            events.categories_changed()
    except IntegrityError as exc:
        raise _field_error("slug", _("Another category already uses this slug."), "unique") from exc
    return category


def category_update(*, category: Category, data: Mapping[str, Any]) -> Category:
    """Change the given fields of a category; moving it below its own subtree is refused."""
    changes = dict(data)
    if "parent" in changes:
        changes["parent"] = _category_by_slug(changes["parent"], field="parent")
        _check_no_cycle(category=category, parent=changes["parent"])
    if (
        "slug" in changes
        and Category.objects.filter(slug=changes["slug"]).exclude(pk=category.pk).exists()
    ):
        raise _field_error("slug", _("Another category already uses this slug."), "unique")
    try:
        with transaction.atomic():
            for field, value in changes.items():
                setattr(category, field, value)
            category.save()
            events.categories_changed()
    except IntegrityError as exc:
        raise _field_error("slug", _("Another category already uses this slug."), "unique") from exc
    return category


def category_delete(*, category: Category) -> None:
    """Delete an empty category (no child categories, no alive products)."""
    with transaction.atomic():
        if category.children.exists() or Product.objects.filter(category=category).exists():
            raise CategoryNotEmpty(
                _("Move or delete its subcategories and products before deleting it.")
            )
        category.delete()
        events.categories_changed()
