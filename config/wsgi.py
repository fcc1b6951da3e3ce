"""WSGI entry point, for servers that cannot run ASGI."""

import gc
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Django's WSGI application. A complete (not streaming) response is handed to the server as
    one chunk in a list, which servers write in one go; iterating the response object instead
    made the server call back into Python for every chunk. The response is closed first, as
    the server would close it after the last chunk (`request_finished`)."""
    response = django_application(environ, start_response)
    if not isinstance(response, HttpResponse):
        return response  # streaming and file responses stream
    try:
        return [response.content]
    finally:
        response.close()


# What is loaded by now lives as long as the process: out of the collector's way, the full
# collections that requests set off no longer walk it.
gc.freeze()
