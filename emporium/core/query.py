"""Query-string validation for hot list endpoints.

A DRF serializer deep-copies its declared fields every time one is built; list endpoints
validate their filters on every request, where that copy costs more than the validation.
`QuerySerializer.validate_query` validates with one instance built per class and reused: the
same fields, `validate_<field>` methods, `validate` and error bodies as
`Serializer(data=...).is_valid(raise_exception=True)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import SkipField

from emporium.core.memo import BoundedMemo

# Valid queries remembered per serializer class.
REMEMBERED_QUERIES = 1_000


class QuerySerializer(serializers.Serializer[Any]):
    """Query parameters validated by `validate_query`. Subclasses keep their validation a pure
    function of the values (no `context`, `instance`, `initial_data` or clock): one instance
    serves every request, and a query's valid values are remembered."""

    _shared: ClassVar[dict[type[QuerySerializer], QuerySerializer]] = {}
    _valid: ClassVar[dict[type[QuerySerializer], BoundedMemo[dict[str, Any]]]] = {}

    @classmethod
    def validate_query(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """The validated values of `data`, or `ValidationError` (a 400 problem) naming every
        field in error, as `is_valid(raise_exception=True)` would raise it.

        Valid values of a request's query are remembered by the raw values of the declared
        fields: a list is asked for with the same few filters over and over."""
        shared = cls._shared.get(cls)
        if shared is None:
            cls._valid[cls] = BoundedMemo(REMEMBERED_QUERIES)
            shared = cls._shared[cls] = cls()
        if not isinstance(data, QueryDict):
            return shared._validate_values(data)
        key = tuple(tuple(data.getlist(name)) for name, _field in shared.fields.items())
        memo = cls._valid[cls]
        values = memo.get(key)
        if values is None:
            values = shared._validate_values(data)
            memo.put(key, values)
        return dict(values)  # the caller's own dict (the values themselves are shared)

    def _validate_values(self: Self, data: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            try:
                value = field.run_validation(field.get_value(data))
                check = getattr(self, f"validate_{name}", None)
                if check is not None:
                    value = check(value)
            except SkipField:
                continue
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
            else:
                values[name] = value
        if errors:
            raise serializers.ValidationError(errors)
        try:
            validated: dict[str, Any] = self.validate(values)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        return validated
