from django.apps import AppConfig


class TestappConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"
    verbose_name = "Test app (test profile only)"
    default_auto_field = "django.db.models.BigAutoField"
