"""ensure_superuser is idempotent; wait_for_db gives up with a clear message."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from django_process import run_django


@pytest.fixture
def superuser_env(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "boss@example.org")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-enough-password")


@pytest.mark.django_db
def test_ensure_superuser_creates_once_then_does_nothing(superuser_env):
    first, second = io.StringIO(), io.StringIO()
    call_command("ensure_superuser", stdout=first)
    call_command("ensure_superuser", stdout=second)
    users = get_user_model().objects.filter(username="boss")
    assert users.count() == 1
    assert users.get().is_superuser
    assert users.get().check_password("a-long-enough-password")
    assert "created" in first.getvalue()
    assert "already exists" in second.getvalue()


@pytest.mark.django_db
def test_ensure_superuser_needs_a_username(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_USERNAME is not set"):
        call_command("ensure_superuser")


@pytest.mark.django_db
def test_ensure_superuser_without_password_or_terminal_fails(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "nopassword")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO())
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD is not set"):
        call_command("ensure_superuser")
    assert not get_user_model().objects.filter(username="nopassword").exists()


def test_wait_for_db_gives_up_with_a_message_naming_the_database():
    code = "from django.core.management import call_command\ncall_command('wait_for_db', timeout=1)"
    result = run_django(
        code, DEBUG="true", POSTGRES_HOST="127.0.0.1", POSTGRES_PORT="9", POSTGRES_DB="shop"
    )
    assert result.returncode != 0
    assert "database shop at 127.0.0.1:9 not reachable after 1s" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "database shop at 127.0.0.1:9 not reachable after 1s"),
        ("soon", "DB_WAIT_TIMEOUT must be a number of seconds, got 'soon'"),
    ],
)
def test_wait_for_db_reads_its_timeout_from_db_wait_timeout(value, message):
    code = "from django.core.management import call_command\ncall_command('wait_for_db')"
    result = run_django(
        code,
        DEBUG="true",
        POSTGRES_HOST="127.0.0.1",
        POSTGRES_PORT="9",
        POSTGRES_DB="shop",
        DB_WAIT_TIMEOUT=value,
    )
    assert result.returncode != 0
    assert message in result.stderr
