from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "emporium.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from emporium.catalog import cache, events
        from emporium.catalog.api import fast
        from emporium.core import response_cache

        events.product_changes.connect(cache.on_products_changed, dispatch_uid="catalog-cache")
        events.category_changes.connect(cache.on_categories_changed, dispatch_uid="catalog-cache")
        response_cache.register_scope("catalog", [cache.PRODUCTS, cache.CATEGORIES, cache.SCHEDULE])
        response_cache.register_scope("categories", [cache.CATEGORIES])
        response_cache.register_prefetch(cache.page_miss_keys)
        # The hottest reads skip URL dispatch and DRF on an anonymous miss (by URL name: GET
        # on these routes falls through to the read views).
        response_cache.register_reader("api:product-create", fast.product_list)
        response_cache.register_reader("api:product-write", fast.product_detail)
