"""config/tasks.py: TASKS and the EMAIL_* settings from the environment; each
bad value is refused in one line naming it."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import tasks
from settings_env import env_of


def options(**values: str) -> dict:
    return tasks.tasks_setting(env_of(**values))["default"]["OPTIONS"]


def refusal(reader, **values: str) -> str:
    with pytest.raises(ImproperlyConfigured) as caught:
        reader(env_of(**values))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_defaults_give_django_ox_with_retries_a_lease_and_the_prune_schedule():
    setting = tasks.tasks_setting(env_of())["default"]
    assert setting["BACKEND"] == "django_ox.backend.OxBackend"
    assert setting["OPTIONS"]["MAX_ATTEMPTS"] == 3
    assert setting["OPTIONS"]["LOCK_TIMEOUT"] == 60
    # No time limit outside Compose, which sets WORKER_GRACE (the worker's).
    assert setting["OPTIONS"]["TASK_TIMEOUT"] is None
    schedule = setting["OPTIONS"]["SCHEDULES"]["prune-task-results"]
    assert schedule["task"] == "core.tasks.prune_task_results"


def test_the_settings_reach_the_backend():
    chosen = options(TASK_MAX_ATTEMPTS="5", TASK_LOCK_TIMEOUT="15", WORKER_GRACE="120")
    assert (chosen["MAX_ATTEMPTS"], chosen["LOCK_TIMEOUT"]) == (5, 15)
    # A task attempt, even one that ignores its TaskTimeout, ends before
    # Docker kills a stopping worker.
    assert chosen["TASK_TIMEOUT"] + chosen["TASK_TIMEOUT_GRACE"] < 120


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TASK_MAX_ATTEMPTS", "0"),
        ("TASK_MAX_ATTEMPTS", "three"),
        ("TASK_LOCK_TIMEOUT", "2"),
        ("WORKER_GRACE", "10"),
        ("WORKER_GRACE", "2m"),
    ],
)
def test_a_bad_value_is_refused_by_name(name, value):
    assert name in refusal(tasks.tasks_setting, **{name: value})


def test_results_are_kept_fourteen_days_unless_set():
    assert tasks.results_keep_days(env_of()) == 14
    assert tasks.results_keep_days(env_of(TASK_RESULTS_KEEP_DAYS="3")) == 3
    assert "TASK_RESULTS_KEEP_DAYS" in refusal(tasks.results_keep_days, TASK_RESULTS_KEEP_DAYS="0")


def test_without_email_url_mail_goes_to_the_log():
    mail = tasks.email_settings(env_of())
    assert mail["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert mail["DEFAULT_FROM_EMAIL"] == mail["SERVER_EMAIL"] == "webmaster@localhost"


def test_email_url_chooses_smtp_with_tls_and_a_timeout():
    mail = tasks.email_settings(
        env_of(EMAIL_URL="smtp+tls://user:p%40ss@mail.example.com:587", DEFAULT_FROM_EMAIL="a@b.c")
    )
    assert mail["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (mail["EMAIL_HOST"], mail["EMAIL_PORT"], mail["EMAIL_USE_TLS"]) == (
        "mail.example.com",
        587,
        True,
    )
    assert (mail["EMAIL_HOST_USER"], mail["EMAIL_HOST_PASSWORD"]) == ("user", "p@ss")
    assert mail["EMAIL_TIMEOUT"] == 10
    assert mail["DEFAULT_FROM_EMAIL"] == "a@b.c"


def test_the_password_can_come_from_a_file(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from a file\n")
    mail = tasks.email_settings(
        env_of(EMAIL_URL="smtp+ssl://user@smtp.example.com:465", EMAIL_PASSWORD_FILE=str(secret))
    )
    assert mail["EMAIL_HOST_PASSWORD"] == "from a file"
    assert mail["EMAIL_USE_SSL"] is True


@pytest.mark.parametrize("url", ["smtps//host", "bogus://host", "smtp://host:port"])
def test_a_bad_email_url_is_refused_by_name(url):
    assert refusal(tasks.email_settings, EMAIL_URL=url).startswith("EMAIL_URL must be")
