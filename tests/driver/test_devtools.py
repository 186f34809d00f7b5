"""Developer tools: what the linters cover, and the host-side Django environment."""

import sys

import pytest

from driver import devtools
from driver.console import Refused
from driver.modes import DEV
from tools.throwaway import REPO_DIR


def test_lint_covers_every_shell_script_dockerfile_and_the_driver_types(tmp_path):
    (tmp_path / "a.sh").write_text("echo\n")
    (tmp_path / "ci").write_text("#!/usr/bin/env bash\necho\n")
    (tmp_path / "tool").write_text("#!/bin/sh\necho\n")
    (tmp_path / "notes.txt").write_text("plain text\n")
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM x\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "skip.sh").write_text("echo\n")
    scripts, dockerfiles = devtools.lint_targets(tmp_path)
    assert [(p.name, shell) for p, shell in scripts] == [
        ("a.sh", "sh"),
        ("ci", "bash"),
        ("tool", "sh"),
    ]
    assert [p.name for p in dockerfiles] == ["Dockerfile"]
    names = [name for name, _ in devtools.lint_commands(tmp_path, tmp_path / "bin", tmp_path)]
    assert names[:3] == ["ruff", "ruff-format", "mypy"]
    assert "hadolint:docker/Dockerfile" in names and "shellcheck:ci" in names
    assert names[-1] == "compose-lint"


def test_the_repositorys_own_scripts_are_linted():
    scripts, dockerfiles = devtools.lint_targets(REPO_DIR)
    linted = {str(path.relative_to(REPO_DIR)) for path, _ in scripts}
    assert {"run.sh", "entrypoint.sh", ".ci/run"} <= linted
    assert REPO_DIR / "docker" / "Dockerfile" in dockerfiles


def test_host_django_gets_the_resolved_database_settings(project):
    project_, _ = project
    project_.mode = DEV
    project_.settings.ports["db"] = []
    env = devtools.host_django_env(project_)
    assert env["POSTGRES_HOST"] == "127.0.0.1"
    assert env["POSTGRES_PASSWORD"] == "s3cret"  # as Compose resolved it, whatever it holds
    assert env["DEBUG"] == "true"
    assert env["DJANGO_ENV_FILE"] == str(project_.env_file)


def test_the_venv_is_built_by_a_python_new_enough_for_the_app(monkeypatch):
    monkeypatch.setattr(devtools.sys, "version_info", (3, 11, 7))
    monkeypatch.setattr(devtools.shutil, "which", lambda name: f"/usr/bin/{name}")
    versions = {"/usr/bin/python3.14": None, "/usr/bin/python3.13": (3, 13)}
    monkeypatch.setattr(devtools, "version_of", lambda python: versions.get(python))
    assert devtools.host_python() == "/usr/bin/python3.13"  # 3.14's shim does not run
    versions.clear()
    with pytest.raises(Refused, match="Python 3.12 or newer .* python3 is"):
        devtools.host_python()


def test_a_python_version_is_read_from_the_interpreter_itself():
    assert devtools.version_of(sys.executable) == tuple(sys.version_info[:2])
    assert devtools.version_of("/nonexistent/python") is None
