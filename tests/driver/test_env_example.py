""".env.example by one rule: every variable the Compose files read is there,
commented with its Compose default (#NAME=default); a live line (NAME=value)
only where there is no default to fall back on (${NAME:?...}) or where
development needs another value than the default."""

import re

import pytest

from driver import envfile
from driver.modes import DEV_FILES, SWARM_FILES
from driver.stack_file import SECRET_SETTINGS
from tools.throwaway import REPO_DIR, compose_defaults

COMPOSE_FILES = tuple(dict.fromkeys([*DEV_FILES, *SWARM_FILES]))
EXAMPLE = (REPO_DIR / ".env.example").read_text()
DEFAULTS = compose_defaults()
# Development needs another value than the Compose default: loopback host
# names (production's default list is empty, and refused), a pgAdmin
# password (pgAdmin does not start without one), the dev S3 server's keys.
DEVELOPMENT_DIFFERS = {
    "ALLOWED_HOSTS",
    "PGADMIN_DEFAULT_PASSWORD",
    "S3_DEV_ACCESS_KEY_ID",
    "S3_DEV_SECRET_ACCESS_KEY",
}


def compose_text() -> str:
    return "".join((REPO_DIR / name).read_text() for name in COMPOSE_FILES)


def compose_variables() -> list[str]:
    return sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text())))


def required_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", compose_text()))


def example_lines(prefix: str) -> dict[str, str]:
    """NAME: value of the lines ``prefix``NAME=value (prefix "#": commented)."""
    pattern = rf"^{re.escape(prefix)}([A-Z][A-Z0-9_]*)=(.*)$"
    return dict(re.findall(pattern, EXAMPLE, re.MULTILINE))


DOCUMENTED = example_lines("#")
LIVE = example_lines("")


def test_the_compose_files_read_variables_with_defaults_and_requirements():
    assert {"SECRET_KEY", "WEB_MEMORY_LIMIT", "DB_PIDS_LIMIT"} <= set(compose_variables())
    assert DEFAULTS["DEV_DB_PORT"] == "5433"
    assert required_variables() == {"SECRET_KEY", "POSTGRES_PASSWORD"}


@pytest.mark.parametrize("name", compose_variables())
def test_every_compose_variable_is_documented_with_its_default(name):
    assert name in DOCUMENTED, f"no #{name}= line"
    # Written as a live line would be (quoted when it has spaces, say).
    default = DEFAULTS.get(name, "")
    expected = envfile.quote(default) if default else ""
    assert DOCUMENTED[name] == expected, f"#{name}= is not the Compose default"


def test_only_compose_variables_are_documented():
    assert set(DOCUMENTED) <= set(compose_variables())


def test_live_lines_only_where_required_or_development_differs():
    assert set(LIVE) == required_variables() | DEVELOPMENT_DIFFERS


@pytest.mark.parametrize("name", sorted(DEVELOPMENT_DIFFERS))
def test_development_values_differ_from_the_default(name):
    assert LIVE[name] != DEFAULTS[name]


@pytest.mark.parametrize("name", sorted(required_variables() | DEVELOPMENT_DIFFERS))
def test_each_live_line_follows_its_commented_default(name):
    lines = EXAMPLE.splitlines()
    index = lines.index(f"{name}={LIVE[name]}")
    assert lines[index - 1] == f"#{name}={DOCUMENTED[name]}"


def test_the_settings_read_from_files_are_the_secrets_swarm_hides():
    listed = re.search(r"Django reads\s(.*?)\sin place of NAME", EXAMPLE, re.DOTALL)
    assert listed, ".env.example no longer says which settings Django reads from files"
    assert set(re.findall(r"\b([A-Z][A-Z0-9_]*)_FILE\b", listed[1])) == set(SECRET_SETTINGS)
