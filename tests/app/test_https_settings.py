"""HTTPS settings: `check --deploy` is clean in production with the documented
values, each opt-out is reported, bad values are refused by name, and the
HTTPS redirect never reaches the health probes."""

import json
import re

import pytest

from django_process import run_django
from tools.throwaway import REPO_DIR, production_settings

# What production cannot do without; everything else keeps its default.
REQUIRED = {
    **production_settings(behind_proxy=False),
    "DEBUG": "false",  # compose.yml sets it for production
}
CHECK_DEPLOY = (
    "from django.core.management import call_command\n"
    "call_command('check', '--deploy', '--fail-level', 'WARNING')"
)


def documented_production_defaults() -> dict[str, str]:
    """The commented `#NAME=value` lines of .env.example: the production defaults."""
    text = (REPO_DIR / ".env.example").read_text()
    return dict(re.findall(r"^#([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))


def check_deploy(env: dict[str, str]):
    return run_django(CHECK_DEPLOY, **env)


def test_the_documented_production_defaults_cover_the_https_settings():
    documented = documented_production_defaults()
    for name in (
        "SECURE_SSL_REDIRECT",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_COOKIES",
    ):
        assert name in documented, name


def test_check_deploy_is_silent_with_the_documented_production_settings():
    env = {**documented_production_defaults(), **REQUIRED}
    result = check_deploy(env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_is_silent_with_only_the_required_settings():
    result = check_deploy(REQUIRED)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("override", "warning"),
    [
        ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"SECURE_COOKIES": "false"}, "security.W012"),
        ({"SECURE_COOKIES": "false"}, "security.W016"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": "off"}, "security.W005"),
        ({"SECURE_HSTS_PRELOAD": "no"}, "security.W021"),
    ],
)
def test_check_deploy_reports_each_protection_turned_off(override, warning):
    result = check_deploy({**REQUIRED, **override})
    assert result.returncode != 0
    assert warning in result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECURE_SSL_REDIRECT": "ture"}, "SECURE_SSL_REDIRECT must be true or false, got 'ture'"),
        ({"SECURE_COOKIES": "maybe"}, "SECURE_COOKIES must be true or false"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS must be a whole number"),
        ({"SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS must be a whole number of at least 0"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, "SECURE_PROXY_SSL_HEADER must"),
        ({"CONN_MAX_AGE": "forever"}, "CONN_MAX_AGE must be a whole number"),
        ({"POSTGRES_PORT": "0"}, "POSTGRES_PORT must be a whole number of at least 1"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(override, message):
    result = run_django("", **{**REQUIRED, **override})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


SETTINGS_AS_JSON = (
    "import json; from django.conf import settings as s\n"
    "print(json.dumps({name: getattr(s, name) for name in ("
    "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS',"
    "'SECURE_HSTS_PRELOAD', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE',"
    "'SECURE_PROXY_SSL_HEADER')}))"
)


def test_production_defaults_are_on_and_trust_the_proxys_header():
    """Production's web is reachable through the stack's proxy alone, which
    sets X-Forwarded-Proto on every request: trusting it is the default."""
    result = run_django(SETTINGS_AS_JSON, **REQUIRED)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_the_proxy_header_can_be_turned_off():
    result = run_django(SETTINGS_AS_JSON, **REQUIRED, SECURE_PROXY_SSL_HEADER="none")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["SECURE_PROXY_SSL_HEADER"] is None


def test_development_serves_plain_http():
    result = run_django(SETTINGS_AS_JSON, DEBUG="true")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert not any(value for name, value in values.items() if name != "SECURE_HSTS_SECONDS")


def test_the_proxy_header_is_read_as_django_expects():
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    result = run_django(code, **REQUIRED, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


RESPONSES = (
    "from django.test import Client\n"
    "client = Client()\n"
    "for path, headers in (\n"
    "    ('/healthz', {}),\n"
    "    ('/no-such-page/', {'Host': 'example.com'}),\n"
    "    ('/no-such-page/', {'Host': 'example.com', 'X-Forwarded-Proto': 'https'}),\n"
    "):\n"
    "    r = client.get(path, headers=headers)\n"
    "    print(r.status_code, r.get('Location', '-'), r.get('Strict-Transport-Security', '-'))"
)


def test_plain_http_is_redirected_but_health_probes_are_answered():
    result = run_django(RESPONSES, **REQUIRED, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert result.returncode == 0, result.stderr
    probe, plain, through_proxy = result.stdout.splitlines()
    assert probe == "200 - -"
    assert plain == "301 https://example.com/no-such-page/ -"
    assert through_proxy == "404 - max-age=31536000; includeSubDomains; preload"
