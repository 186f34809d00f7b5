"""Helpers shared by the unit and end-to-end tests, and by the benchmark
(bench/), which drives a throwaway copy of the repository the same way."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
APP_DIR = REPO_DIR / "app"


def clean_env(**overrides: str) -> dict[str, str]:
    """A minimal environment for run.sh and docker: settings come only from
    the env file, never from this test process (which has .env loaded)."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "LANG", "TMPDIR")
    return {**{name: os.environ[name] for name in keep if name in os.environ}, **overrides}


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run Python in a fresh process that sets Django up from exactly ``env``.

    Settings are read once per process, so each configuration under test
    gets its own interpreter. No .env file is read.
    """
    base = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV_FILE": "/nonexistent",
        "PYTHONPATH": str(APP_DIR),
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_repository(target: Path, skip_prefix: str | None = None) -> None:
    """Copy the checkout's files (tracked and untracked, not ignored) to
    ``target``, plus this machine's compose.override.yml."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    names = [
        name
        for name in listed.split("\0")
        if name and not (skip_prefix and name.startswith(skip_prefix))
    ]
    if (REPO_DIR / "compose.override.yml").exists():
        names.append("compose.override.yml")  # this machine's build settings
    for name in names:
        source = REPO_DIR / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def remove_project_leftovers(project: str) -> None:
    """After ``down --volumes``: the volumes the project label still names
    (down with the dev files leaves db-prod-data) and the project's image."""
    volumes = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if volumes:
        subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True, check=False)
    subprocess.run(
        ["docker", "image", "rm", f"{project}-web:latest"], capture_output=True, check=False
    )
