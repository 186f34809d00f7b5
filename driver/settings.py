"""The settings as Compose resolves them: defaults, .env and environment.

The Compose files' ``${VAR:-default}`` are the one home of every default;
the driver keeps no copy. It asks ``docker compose config`` for the
resolved model and reads its values from there (``from_config``, pure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The setting behind each published port, by service and container port
# (for messages only).
PORT_SETTINGS = {
    ("web", 8000): "WEB_PORT",
    ("db", 5432): "DEV_DB_PORT",
    ("pgadmin", 80): "PGADMIN_PORT",
    ("mail", 1080): "MAIL_PORT",
    ("proxy", 80): "HTTP_PORT",
    ("proxy", 443): "HTTPS_PORT",
}
HOST_WEB_PORT = "HOST_WEB_PORT"
FILESYSTEM = "filesystem"  # STORAGE_BACKEND's default: uploads in the media volume


@dataclass(frozen=True)
class Port:
    setting: str  # WEB_PORT, ...
    value: str  # as published: 8000 or a range 8000-8001
    host_ip: str = ""

    def numbers(self) -> list[int]:
        first, _, last = self.value.partition("-")
        return list(range(int(first), int(last or first) + 1))


@dataclass(frozen=True)
class Settings:
    project: str
    env_label: str  # how messages name the env file: .env, or its path
    web: dict[str, str] = field(default_factory=dict)  # web's environment
    db: dict[str, str] = field(default_factory=dict)  # db's environment
    pgadmin: dict[str, str] = field(default_factory=dict)
    worker: dict[str, str] = field(default_factory=dict)  # worker's environment
    backup: dict[str, str] = field(default_factory=dict)  # the scheduled backups'
    proxy: dict[str, str] = field(default_factory=dict)  # proxy's environment
    ports: dict[str, list[Port]] = field(default_factory=dict)  # by service
    driver: dict[str, str] = field(default_factory=dict)  # x-driver
    host_web_port: str = ""  # x-host-runserver (development files only)

    @property
    def db_name(self) -> str:
        return self.db.get("POSTGRES_DB", "")

    @property
    def db_user(self) -> str:
        return self.db.get("POSTGRES_USER", "")

    @property
    def db_password(self) -> str:
        return self.db.get("POSTGRES_PASSWORD", "")

    @property
    def database_url(self) -> str:
        return self.web.get("DATABASE_URL", "")

    @property
    def storage_backend(self) -> str:
        """web's STORAGE_BACKEND as the app reads it (app/config/storage.py):
        stripped, lower case, FILESYSTEM when empty or not set."""
        return self.web.get("STORAGE_BACKEND", "").strip().lower() or FILESYSTEM

    def published(self, service: str) -> list[Port]:
        return self.ports.get(service, [])

    def first_port(self, service: str) -> str:
        ports = self.published(service)
        return ports[0].value.partition("-")[0] if ports else ""


def _unescape(value: Any) -> str:
    """A value of ``config --format json``: Compose writes $ as $$ there."""
    return "" if value is None else str(value).replace("$$", "$")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: _unescape(value) for name, value in (service.get("environment") or {}).items()}


def from_config(config: dict[str, Any], env_label: str) -> Settings:
    """Settings from the JSON of ``docker compose config --format json``."""
    services = config.get("services") or {}
    ports = {
        name: [
            Port(PORT_SETTINGS.get((name, port.get("target")), name),
                 _unescape(port.get("published")), port.get("host_ip", ""))
            for port in service.get("ports") or []
            # UDP (HTTP/3) shares its number with a TCP port listed too.
            if port.get("published") and port.get("protocol", "tcp") == "tcp"
        ]
        for name, service in services.items()
    }  # fmt: skip
    return Settings(
        project=str(config.get("name", "")),
        env_label=env_label,
        web=_environment(services.get("web", {})),
        db=_environment(services.get("db", {})),
        pgadmin=_environment(services.get("pgadmin", {})),
        worker=_environment(services.get("worker", {})),
        backup=_environment(services.get("backup", {})),
        proxy=_environment(services.get("proxy", {})),
        ports=ports,
        driver={k: _unescape(v) for k, v in (config.get("x-driver") or {}).items()},
        host_web_port=_unescape((config.get("x-host-runserver") or {}).get("port")),
    )


def compose_error(output: str, env_text: str) -> str:
    """Compose's refusal of the settings as one line that names the setting."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "docker compose config failed"
    required = re.search(r"required variable \w+ is missing a value: (.*)$", last)
    if required:
        return required.group(1)
    port = re.match(r"invalid hostPort: (.*)$", last)
    if port:
        value = port.group(1)
        names = re.findall(rf"^([A-Z0-9_]*PORT)=\"?{re.escape(value)}\"?$", env_text, re.MULTILINE)
        name = names[-1] if names else "a port setting"
        return f"{name} is not a valid port number or range (1-65535): '{value}'"
    return f"cannot read the settings: {last}"


def label(env_file: Path, root: Path) -> str:
    """The env file as messages name it: relative to the repository if inside."""
    try:
        return str(env_file.relative_to(root))
    except ValueError:
        return str(env_file)
