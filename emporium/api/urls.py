"""The URL map of each API version: composition only, no business rules."""

from django.urls import include, re_path

from emporium.api.cache import cache_purge
from emporium.api.rate_limits import rate_limits
from emporium.api.views import api_root

app_name = "api"

VERSION = r"^(?P<version>v1|v2)/"

# Resolved in order: the hottest routes (catalog, search, cart) come first.
urlpatterns = [
    re_path(VERSION + r"$", api_root, name="root"),
    # Fixed sub-paths first: `products/batch/`, `products/import/`... are not product slugs.
    re_path(VERSION, include("emporium.catalog.api.csv")),
    re_path(VERSION, include("emporium.catalog.api.images")),
    re_path(VERSION, include("emporium.catalog.api.write")),
    re_path(VERSION, include("emporium.catalog.api.read")),
    re_path(VERSION, include("emporium.search.api")),
    re_path(VERSION, include("emporium.cart.api")),
    re_path(VERSION, include("emporium.inventory.api")),
    re_path(VERSION, include("emporium.orders.api")),
    re_path(VERSION, include("emporium.payments.api")),
    re_path(VERSION, include("emporium.reviews.api")),
    re_path(VERSION + r"rate-limits/$", rate_limits, name="rate-limits"),
    re_path(VERSION + r"admin/cache/purge/$", cache_purge, name="admin-cache-purge"),
    re_path(VERSION, include("emporium.accounts.api.auth")),
    re_path(VERSION, include("emporium.accounts.api.profile")),
    re_path(VERSION, include("emporium.accounts.api.preferences")),
    re_path(VERSION, include("emporium.accounts.api.lifecycle")),
    re_path(VERSION, include("emporium.accounts.api.exports")),
]
