"""Settings: production refuses unsafe values; *_FILE secrets; database URL."""

import re

import pytest

from config.production_policy import EXAMPLE_DB_PASSWORD
from django_process import run_django
from tools.throwaway import REPO_DIR, production_settings

PROD = {**production_settings(), "DEBUG": "false"}
STRONG_KEY = PROD["SECRET_KEY"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "short-key"}, "SECRET_KEY is shorter than 50 characters"),
        ({"SECRET_KEY": "ab" * 30}, "SECRET_KEY has fewer than 5 distinct characters"),
        ({"SECRET_KEY": "django-insecure-" + STRONG_KEY}, "placeholder"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
        ({"POSTGRES_PASSWORD": EXAMPLE_DB_PASSWORD}, "POSTGRES_PASSWORD is the example"),
    ],
)
def test_production_refuses_unsafe_settings(override, message):
    result = run_django("", **{**PROD, **override})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_accepts_safe_settings():
    result = run_django("from django.conf import settings; print(settings.DEBUG)", **PROD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_mode_lends_a_random_key_when_none_is_set():
    code = "from django.conf import settings; print(len(settings.SECRET_KEY))"
    result = run_django(code, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 50


def test_secrets_are_read_from_files(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text(STRONG_KEY + "\n")
    password_file = tmp_path / "db_password"
    password_file.write_text("from-a-docker-secret")
    env = {k: v for k, v in PROD.items() if k not in ("SECRET_KEY", "POSTGRES_PASSWORD")}
    code = (
        "from django.conf import settings\n"
        f"print(settings.SECRET_KEY == {STRONG_KEY!r})\n"
        "print(settings.DATABASES['default']['PASSWORD'])"
    )
    result = run_django(
        code,
        **env,
        SECRET_KEY_FILE=str(key_file),
        POSTGRES_PASSWORD_FILE=str(password_file),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "from-a-docker-secret"]


def test_database_url_takes_precedence_over_postgres_variables():
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']\n"
        "print(d['HOST'], d['PORT'], d['NAME'], d['USER'], d['CONN_HEALTH_CHECKS'])"
    )
    result = run_django(
        code,
        DEBUG="true",
        DATABASE_URL="postgres://u:p@dbhost:6543/shop",
        POSTGRES_HOST="ignored",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["dbhost", "6543", "shop", "u", "True"]


def test_example_password_is_the_one_every_check_refuses():
    example = (REPO_DIR / ".env.example").read_text()
    live = re.search(r"^POSTGRES_PASSWORD=(.*)$", example, re.MULTILINE)
    assert live and live.group(1) == EXAMPLE_DB_PASSWORD
