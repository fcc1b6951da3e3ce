"""Typed references from MongoDB documents to rows of the relational database.

`RelationalReference("catalog.Product")` stores the row's UUID (BSON binary subtype 4), checks on
save that the row exists in the current tenant, and reads back as the Django model instance
(fetched on first access, or primed for a whole page by `references_resolve`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.db.models import Model
from mongoengine import Document, UUIDField  # type: ignore[import-untyped]

from emporium.core.context import require_current_tenant_id

_CACHE = "_relational_references"


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    if isinstance(value, Model):
        return uuid.UUID(str(value.pk))
    return uuid.UUID(str(value))


class RelationalReference(UUIDField):  # type: ignore[misc]
    """A reference to a row of `model` ("app_label.ModelName"), stored as its UUID."""

    def __init__(self, model: str, **kwargs: Any) -> None:
        kwargs.setdefault("binary", True)
        super().__init__(**kwargs)
        self.model_label = model

    @property
    def model(self) -> type[Model]:
        return apps.get_model(self.model_label)

    # --- attribute access: the model instance in, the model instance out ---------------------

    def __set__(self, instance: Any, value: Any) -> None:
        cache = instance.__dict__.setdefault(_CACHE, {})
        if isinstance(value, Model):
            cache[self.name] = value
        else:
            cache.pop(self.name, None)
        super().__set__(instance, _as_uuid(value))

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        pk = instance._data.get(self.name)
        if pk is None:
            return None
        cache: dict[str, Model | None] = instance.__dict__.setdefault(_CACHE, {})
        if self.name in cache:
            cached = cache[self.name]
            if cached is None or cached.pk == pk:
                return cached
        row = self.rows_by_id([pk]).get(pk)
        cache[self.name] = row
        return row

    def id_of(self, instance: Any) -> uuid.UUID | None:
        """The stored UUID, without touching the database."""
        value: uuid.UUID | None = instance._data.get(self.name)
        return value

    def prime(self, instance: Any, row: Model | None) -> None:
        """Remember the already fetched row (bulk resolution)."""
        instance.__dict__.setdefault(_CACHE, {})[self.name] = row

    # --- storage, queries and validation -----------------------------------------------------

    def to_python(self, value: Any) -> Any:
        if isinstance(value, Model):
            return _as_uuid(value)
        return super().to_python(value)

    def prepare_query_value(self, op: str, value: Any) -> Any:
        if isinstance(value, Model):
            value = _as_uuid(value)
        return super().prepare_query_value(op, value)

    def validate(self, value: Any) -> None:
        if isinstance(value, Model):
            value = _as_uuid(value)
        super().validate(value)
        if value is None:
            return
        if not self.rows_by_id([value]):
            self.error(f"No {self.model._meta.verbose_name} {value} exists in this shop.")

    def rows_by_id(self, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, Model]:
        """The rows of the current tenant with these ids (soft-deleted ones included); one
        query. Rows of other tenants are never returned."""
        wanted = {pk for pk in ids if pk is not None}
        if not wanted:
            return {}
        queryset = self.model._base_manager.filter(
            pk__in=wanted, tenant_id=require_current_tenant_id()
        )
        return {row.pk: row for row in queryset}


def references_resolve(documents: Sequence[Document], *field_names: str) -> None:
    """Fetch the rows every document points at through `field_names`: one query per field for
    the whole list instead of one per document."""
    if not documents:
        return
    for name in field_names:
        field: RelationalReference = type(documents[0])._fields[name]
        rows = field.rows_by_id(field.id_of(document) for document in documents)
        for document in documents:
            pk = field.id_of(document)
            field.prime(document, rows.get(pk) if pk is not None else None)
