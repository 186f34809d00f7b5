"""Fixtures of the driver's tests: a project in a temporary folder whose
Docker is a FakeRunner (fakes.py)."""

import pytest

from driver import checks
from driver.project import Project
from fakes import FakeRunner, project_with


@pytest.fixture
def docker_installed(monkeypatch):
    """The docker binary looks installed (it is never run)."""
    monkeypatch.setattr(checks.shutil, "which", lambda name: f"/usr/bin/{name}")


@pytest.fixture
def project(tmp_path, docker_installed) -> tuple[Project, FakeRunner]:
    return project_with(tmp_path)
