"""List pagination: `page` and `page_size` (bounded), with stable ordering required of callers."""

from __future__ import annotations

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=2&page_size=50`; page_size defaults to 20 and is capped at 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
