"""WSGI entry point, for servers that cannot run ASGI."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
# What is loaded by now lives as long as the process: out of the collector's way, the full
# collections that requests set off no longer walk it.
gc.freeze()
