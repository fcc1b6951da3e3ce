"""Catalog background jobs; Celery discovers this module, the jobs live beside it."""

from emporium.catalog.tasks_images import *  # noqa: F403
from emporium.catalog.tasks_imports import *  # noqa: F403
