"""Modes, and the Compose files each one runs on.

The one place that knows which files make up a mode: the driver, the
end-to-end harness and the benchmark all ask ``compose_files``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROD_FILES = ("compose.yml",)
DEV_FILES = ("compose.yml", "compose.dev.yml")
# Docker Swarm (sh run.sh swarm): production's files and the Swarm overlay,
# which driver/stack_file.py then fits to Swarm's loader.
SWARM_FILES = ("compose.yml", "compose.swarm.yml")
# This machine's own Compose settings (gitignored), added to every mode.
OVERRIDE_FILE = "compose.override.yml"


@dataclass(frozen=True)
class Mode:
    name: str  # prod | dev | db | host
    flag: str  # -0 .. -3
    label: str  # as run.sh's messages name it
    summary: str  # one line of help
    # Services `up` starts; empty means every service of the files.
    services: tuple[str, ...] = ()

    @property
    def is_prod(self) -> bool:
        return self.name == "prod"

    @property
    def data(self) -> str:
        """prod or dev: whose database volume the mode works on."""
        return "prod" if self.is_prod else "dev"

    @property
    def files(self) -> tuple[str, ...]:
        return PROD_FILES if self.is_prod else DEV_FILES


MODES = (
    Mode(
        "prod",
        "-0",
        "production",
        "production: db + gunicorn web + task worker behind the proxy (Caddy: the only published ports)",
    ),
    Mode(
        "dev",
        "-1",
        "development",
        "development: db + runserver web (autoreload) + task worker + mail catcher + pgAdmin",
    ),
    Mode(
        "db",
        "-2",
        "dev database",
        "development database + pgAdmin only, for working on the host",
        services=("db", "pgadmin", "migrate"),
    ),
    Mode(
        "host",
        "-3",
        "dev database (web on the host)",
        "-2, then runserver on the host (HOST_WEB_PORT)",
        services=("db", "pgadmin", "migrate"),
    ),
)
BY_NAME = {mode.name: mode for mode in MODES}
PROD, DEV = BY_NAME["prod"], BY_NAME["dev"]


def mode_for(word: str) -> Mode | None:
    """The mode a command-line word names (-1 or dev), or None."""
    for mode in MODES:
        if word in (mode.flag, mode.name):
            return mode
    return None


def compose_files(mode: Mode, root: Path) -> list[Path]:
    """The Compose files of ``mode`` in ``root``, in the order Compose merges them."""
    return with_override(mode.files, root)


def with_override(names: tuple[str, ...], root: Path) -> list[Path]:
    """``names`` in ``root``, then this machine's override when it exists."""
    files = [root / name for name in names]
    if (root / OVERRIDE_FILE).is_file():
        files.append(root / OVERRIDE_FILE)
    return files


def mode_of_config_files(config_files: str) -> Mode | None:
    """prod or dev, from the config_files label of a running container."""
    if not config_files:
        return None
    return DEV if DEV_FILES[-1] in config_files else PROD
