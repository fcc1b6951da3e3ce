"""ASGI entry point (granian serves it, HTTP/1.1 and HTTP/2)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()
