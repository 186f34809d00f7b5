"""Configuration has one home: every variable the Compose files read is in
.env.example with its production default (commented) and its dev value (live)."""

import re

import pytest

from tools.throwaway import REPO_DIR

EXAMPLE = (REPO_DIR / ".env.example").read_text()


def compose_variables() -> list[str]:
    names = set()
    for name in ("compose.yml", "compose.dev.yml"):
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (REPO_DIR / name).read_text()))
    return sorted(names)


def test_the_compose_files_read_variables():
    assert {"SECRET_KEY", "WEB_MEMORY_LIMIT", "DB_PIDS_LIMIT"} <= set(compose_variables())


@pytest.mark.parametrize("name", compose_variables())
def test_every_compose_variable_is_documented(name):
    assert re.search(rf"^#{name}=", EXAMPLE, re.MULTILINE), f"no production default for {name}"
    assert re.search(rf"^{name}=", EXAMPLE, re.MULTILINE), f"no development value for {name}"
