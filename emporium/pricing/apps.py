from django.apps import AppConfig


class PricingConfig(AppConfig):
    name = "emporium.pricing"
    label = "pricing"
    verbose_name = "Pricing"
