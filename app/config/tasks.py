"""Background tasks and e-mail: Django's TASKS and EMAIL_* settings.

Tasks use Django's tasks API (``django.tasks`` in Django 6; on 5.2 the
django-tasks backport, ``from django_tasks import task``), run by django-ox
(https://oxpull.com/django-ox/): its queue is a table in the database the
stack already runs, so there is no broker service. Why django-ox: README,
"Background tasks and e-mail". Every variable is documented in .env.example
("Background tasks", "E-mail"); an empty one means the default written here.
"""

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from config import env_values

BACKEND = "django_ox.backend.OxBackend"
# WORKER_GRACE is Docker's wait for a stopping worker (compose.yml, its one
# default): an attempt may run that long less TASK_STOP_MARGIN, and one that
# ignores its TaskTimeout is given up TASK_TIMEOUT_GRACE later, so it ends,
# finished or interrupted (and retried), before Docker kills the worker.
TASK_STOP_MARGIN = 10
TASK_TIMEOUT_GRACE = 5
# Claims per task, the first included, before it is FAILED (LOST when its
# worker died each time).
DEFAULT_MAX_ATTEMPTS = 3
# A killed worker's task goes back to the queue once its lease has not been
# renewed for this long (a running worker renews it every third of it).
DEFAULT_LOCK_TIMEOUT = 60
DEFAULT_RESULTS_KEEP_DAYS = 14


def task_timeout(env: environ.Env) -> int | None:
    """The longest a task attempt may run: WORKER_GRACE less the margin; no
    limit where WORKER_GRACE is not set (outside Compose: tests, the host)."""
    grace = env_values.whole_number(env, "WORKER_GRACE", default=0, minimum=TASK_STOP_MARGIN + 1)
    return grace - TASK_STOP_MARGIN if grace else None


def results_keep_days(env: environ.Env) -> int:
    return env_values.whole_number(
        env, "TASK_RESULTS_KEEP_DAYS", default=DEFAULT_RESULTS_KEEP_DAYS, minimum=1
    )


def tasks_setting(env: environ.Env) -> dict[str, Any]:
    """Django's TASKS: one backend, with its retries, lease and schedules."""
    options: dict[str, Any] = {
        "MAX_ATTEMPTS": env_values.whole_number(
            env, "TASK_MAX_ATTEMPTS", default=DEFAULT_MAX_ATTEMPTS, minimum=1
        ),
        "LOCK_TIMEOUT": env_values.whole_number(
            env, "TASK_LOCK_TIMEOUT", default=DEFAULT_LOCK_TIMEOUT, minimum=3
        ),
        "TASK_TIMEOUT": task_timeout(env),
        "TASK_TIMEOUT_GRACE": TASK_TIMEOUT_GRACE,
        # Periodic tasks, declared here with the code they run: every worker
        # dispatches them and the database enqueues each tick once.
        "SCHEDULES": {
            "prune-task-results": {"task": "core.tasks.prune_task_results", "cron": "17 3 * * *"},
            "prune-exports": {"task": "catalog.tasks.prune_exports", "cron": "27 3 * * *"},
        },
    }
    return {"default": {"BACKEND": BACKEND, "OPTIONS": options}}


def email_settings(env: environ.Env) -> dict[str, Any]:
    """EMAIL_* from EMAIL_URL (django-environ's format: smtp://, smtp+tls://,
    smtp+ssl://, consolemail://, ...), with the password from EMAIL_PASSWORD
    (or EMAIL_PASSWORD_FILE) when that is set. Empty: the console backend,
    which writes each mail to the log instead of sending it."""
    raw = env.str("EMAIL_URL", default="").strip() or "consolemail://"
    try:
        config = environ.Env.email_url_config(raw)
    except (ImproperlyConfigured, KeyError, ValueError) as error:
        scheme = raw.partition("://")[0]
        raise ImproperlyConfigured(
            f"EMAIL_URL must be a mail URL such as smtp+tls://user:password@host:587, "
            f"got scheme {scheme!r} ({error}; see .env.example, E-mail)"
        ) from None
    password = env.str("EMAIL_PASSWORD", default="").rstrip("\r\n")
    if password:
        config["EMAIL_HOST_PASSWORD"] = password
    config.setdefault("EMAIL_TIMEOUT", 10)  # Django's default waits forever
    sender = env.str("DEFAULT_FROM_EMAIL", default="").strip() or "webmaster@localhost"
    return {**config, "DEFAULT_FROM_EMAIL": sender, "SERVER_EMAIL": sender}
