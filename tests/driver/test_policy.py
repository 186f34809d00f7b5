"""The driver's side of the one production policy (app/config/production_policy.py):
the same rules Django applies, as one line each with the setting's fix.
tests/app/test_settings.py holds Django's side of the same table."""

import ast

import pytest

from driver import policy
from driver.settings import from_config
from fakes import config
from tools.throwaway import REPO_DIR

KEY = "k7Qx2vLp9sTz4mWc8rYb1nHd6fJg3aKe5uVo0iXq-ZsPlMnBcDe"


def problems(web=None, db=None):
    model = config()
    model["services"]["web"]["environment"].update(web or {})
    model["services"]["db"]["environment"].update(db or {})
    return policy.problems(from_config(model, "prod.env"))


def test_safe_settings_pass():
    assert problems() == []


@pytest.mark.parametrize(
    ("web_env", "db_env", "line"),
    [
        (
            {"SECRET_KEY": ""},
            {},
            (
                "SECRET_KEY is not set in prod.env: generate one with "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
            ),
        ),
        (
            {"SECRET_KEY": "change-me-run-sh-writes-a-random-key-here"},
            {},
            "SECRET_KEY is a placeholder value in prod.env",
        ),
        ({"SECRET_KEY": "django-insecure-" + KEY}, {}, "SECRET_KEY is a placeholder value"),
        ({"SECRET_KEY": "too-short"}, {}, "SECRET_KEY is shorter than 50 characters"),
        ({"SECRET_KEY": "ab" * 30}, {}, "SECRET_KEY has fewer than 5 distinct characters"),
        (
            {"ALLOWED_HOSTS": " , "},
            {},
            (
                "ALLOWED_HOSTS is empty in prod.env: list the host names the site answers to, "
                "e.g. ALLOWED_HOSTS=example.com"
            ),
        ),
        (
            {},
            {"POSTGRES_PASSWORD": ""},
            "POSTGRES_PASSWORD is empty in prod.env: set a strong database password",
        ),
        (
            {},
            {"POSTGRES_PASSWORD": "dev-password-not-for-production"},
            "POSTGRES_PASSWORD is the example value in prod.env: set a strong database password",
        ),
    ],
)
def test_each_unsafe_setting_is_one_line_with_its_fix(web_env, db_env, line):
    found = problems(web_env, db_env)
    assert len(found) == 1
    assert found[0].startswith(line)


def test_secrets_the_driver_cannot_see_are_not_judged():
    assert problems({"SECRET_KEY": "", "SECRET_KEY_FILE": "/run/secrets/key"}) == []
    assert problems({"POSTGRES_PASSWORD_FILE": "/run/secrets/db"}, {"POSTGRES_PASSWORD": ""}) == []
    external = {"DATABASE_URL": "postgres://u:p@elsewhere/db"}
    assert problems(external, {"POSTGRES_PASSWORD": ""}) == []


def test_the_driver_applies_the_file_django_imports_and_it_needs_only_the_stdlib():
    assert policy.POLICY_FILE == REPO_DIR / "app" / "config" / "production_policy.py"
    tree = ast.parse(policy.POLICY_FILE.read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= {"__future__", "dataclasses"}
