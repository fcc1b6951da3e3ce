from django.apps import AppConfig


class CartConfig(AppConfig):
    name = "emporium.cart"
    label = "cart"
    verbose_name = "Cart"
