import io
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from emporium.accounts.models import User
from emporium.accounts.services import user_create
from emporium.catalog.fixtures import catalog_generate
from emporium.catalog.images import demo_image_bytes
from emporium.catalog.models import Product
from emporium.catalog.services_images import product_image_create

DEMO_PRODUCTS = 200
DEMO_CUSTOMERS = [f"customer{number}@demo.emporium.test" for number in range(1, 6)]


class Command(BaseCommand):
    help = (
        "Load the demo shop: category tree, about 200 products with stock and a generated "
        "image each, and a few customers (no password: use the password reset); idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        missing = DEMO_PRODUCTS - Product.all_objects.count()
        created = catalog_generate(products=missing, seed=42) if missing > 0 else 0
        # Only the demo products: a shop with a big generated catalog does not get 100,000
        # pictures drawn.
        demo = Product.objects.order_by("sku").values("pk")[:DEMO_PRODUCTS]
        without_image = Product.objects.filter(pk__in=demo, images__isnull=True).order_by("sku")
        images = 0
        for number, product in enumerate(without_image):
            picture = demo_image_bytes(number, product.name)
            product_image_create(product=product, file=io.BytesIO(picture), alt_text=product.name)
            images += 1
        customers = 0
        for email in DEMO_CUSTOMERS:
            if not User.objects.filter(email__iexact=email).exists():
                user = user_create(email=email, password=None)
                user.email_verified_at = timezone.now()
                user.save(update_fields=["email_verified_at"])
                customers += 1
        self.stdout.write(
            f"Demo shop: {created} product(s), {images} image(s), {customers} customer(s) added."
        )
