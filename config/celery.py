"""The Celery application: configuration from Django settings (CELERY_*), tasks autodiscovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("emporium", task_cls="emporium.core.tasks:BaseTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Connects the signal handlers that carry tenant and correlation id into tasks.
import emporium.core.task_context  # noqa: E402,F401
