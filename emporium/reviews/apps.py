from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "emporium.reviews"
    label = "reviews"
    verbose_name = "Reviews"
