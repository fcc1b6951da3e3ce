from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "emporium.search"
    label = "search"
