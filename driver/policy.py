"""Production's refusals, from the one policy Django applies too.

The rules live in app/config/production_policy.py (no Django in it); this
module loads that file and applies it to the resolved settings.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from driver.settings import Settings

POLICY_FILE = Path(__file__).resolve().parent.parent / "app" / "config" / "production_policy.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("production_policy", POLICY_FILE)
    assert spec is not None and spec.loader is not None, POLICY_FILE
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


production_policy = _load()


def problems(settings: Settings) -> list[str]:
    """One line per unsafe production setting, naming it and the fix.

    A secret that comes from a file in the container (``*_FILE``), or the
    password of a DATABASE_URL database, is not the driver's to judge.
    """
    web = settings.web
    secret_key: str | None = web.get("SECRET_KEY", "")
    if not secret_key and web.get("SECRET_KEY_FILE"):
        secret_key = None
    password: str | None = settings.db_password
    if settings.database_url or web.get("POSTGRES_PASSWORD_FILE"):
        password = None
    found = production_policy.production_problems(
        secret_key=secret_key,
        allowed_hosts=web.get("ALLOWED_HOSTS", "").split(","),
        db_password=password,
    )
    return [f"{problem.reason} in {settings.env_label}: {problem.fix}" for problem in found]
