"""`QuerySerializer.validate_query` answers exactly as `is_valid(raise_exception=True)`."""

import pytest
from django.http import QueryDict
from rest_framework import serializers

from emporium.core.query import QuerySerializer


class Filters(QuerySerializer):
    name = serializers.CharField(required=False, max_length=5)
    low = serializers.IntegerField(required=False, min_value=0)
    high = serializers.IntegerField(required=False)
    order = serializers.ChoiceField(choices=["up", "down"], default="up")

    def validate_name(self, value):
        if value == "bad":
            raise serializers.ValidationError("No bad names.", code="bad_name")
        return value.upper()

    def validate(self, attrs):
        if attrs.get("low", 0) > attrs.get("high", 10**9):
            raise serializers.ValidationError({"high": "Below low."}, code="invalid_range")
        return attrs


class Other(QuerySerializer):
    flag = serializers.BooleanField(required=False)


def _through_is_valid(query):
    serializer = Filters(data=query)
    try:
        serializer.is_valid(raise_exception=True)
    except serializers.ValidationError as exc:
        return "error", exc.get_full_details()
    return "ok", dict(serializer.validated_data)


def _through_validate_query(query):
    try:
        return "ok", Filters.validate_query(query)
    except serializers.ValidationError as exc:
        return "error", exc.get_full_details()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "name=abc&low=1&high=5&order=down&unknown=1",
        "name=toolong&low=-1&order=sideways",
        "name=bad",
        "name=&low=",
        "low=9&high=2",
        "low=x",
    ],
)
def test_same_values_and_errors_as_is_valid(query):
    data = QueryDict(query)
    assert _through_validate_query(data) == _through_is_valid(data)


def test_each_class_keeps_its_own_fields():
    assert Filters.validate_query(QueryDict("order=down")) == {"order": "down"}
    assert Other.validate_query(QueryDict("flag=true&order=down")) == {"flag": True}
    assert Filters.validate_query(QueryDict("")) == {"order": "up"}


def test_valid_queries_are_remembered_by_their_declared_fields(monkeypatch):
    calls = []
    original = Filters._validate_values

    def counted(self, data):
        calls.append(data.urlencode())
        return original(self, data)

    monkeypatch.setattr(Filters, "_validate_values", counted)
    first = Filters.validate_query(QueryDict("name=kept&low=2&nocache=1"))
    first["low"] = 99  # the caller's own dict: the kept values are untouched
    again = Filters.validate_query(QueryDict("low=2&nocache=2&name=kept"))
    assert again == {"name": "KEPT", "low": 2, "order": "up"}
    assert len(calls) == 1  # other parameters aside, the same values: validated once
    # Another value, or the same name twice, is another query.
    assert Filters.validate_query(QueryDict("name=kept&low=3"))["low"] == 3
    assert Filters.validate_query(QueryDict("name=x&name=kept&low=2"))["name"] == "KEPT"
    assert len(calls) == 3
    # Errors are not kept: each asking gets them, in its own language.
    for _ in range(2):
        with pytest.raises(serializers.ValidationError):
            Filters.validate_query(QueryDict("name=kept&low=-1"))
    assert len(calls) == 5
