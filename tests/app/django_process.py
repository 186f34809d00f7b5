"""Django in a fresh process, for settings that are read once per process."""

import os
import subprocess
import sys

from tools.throwaway import REPO_DIR


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run Python in a fresh process that sets Django up from exactly ``env``.

    Settings are read once per process, so each configuration under test
    gets its own interpreter. No .env file is read.
    """
    base = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV_FILE": "/nonexistent",
        "PYTHONPATH": str(REPO_DIR / "app"),
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
