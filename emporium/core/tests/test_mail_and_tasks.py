"""The embedded email backend and the task base class."""

import logging

import pytest
from django.core import mail
from django.test import override_settings

from config.celery import app
from emporium.core.tasks import BaseTask, TransientError, heartbeat


def test_embedded_email_is_written_to_files_and_logged(tmp_path, caplog):
    with (
        override_settings(
            EMAIL_BACKEND="emporium.core.mail.FileAndLogEmailBackend", EMAIL_FILE_PATH=str(tmp_path)
        ),
        caplog.at_level(logging.INFO),
    ):
        sent = mail.send_mail("Your order", "Thanks!", "shop@example.com", ["ada@example.com"])
    assert sent == 1
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert "Subject: Your order" in files[0].read_text()
    assert "ada@example.com" not in caplog.text  # addresses are personal data
    assert "email_written" in caplog.text


def test_every_task_inherits_the_retry_policy():
    assert app.Task is BaseTask or issubclass(app.Task, BaseTask)
    task = app.tasks["core.ping"]
    assert isinstance(task, BaseTask)
    assert task.acks_late is True
    assert TransientError in task.autoretry_for
    assert task.retry_backoff
    assert task.retry_jitter
    assert 0 < task.max_retries <= 10
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0


def test_beat_schedule_points_at_registered_tasks():
    # What a worker imports at start (every app's tasks module), whatever ran before this test.
    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


@pytest.mark.django_db
def test_heartbeat_records_itself():
    from django.core.cache import cache

    heartbeat()
    assert cache.get("celery-heartbeat")["pid"]
