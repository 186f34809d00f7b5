"""Helpers shared by the unit and end-to-end tests."""

import os
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
APP_DIR = REPO_DIR / "app"


def clean_env(**overrides: str) -> dict[str, str]:
    """A minimal environment for run.sh and docker: settings come only from
    the env file, never from this test process (which has .env loaded)."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "LANG")
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
