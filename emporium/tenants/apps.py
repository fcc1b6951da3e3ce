from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "emporium.tenants"
    label = "tenants"
    verbose_name = "Tenants"
