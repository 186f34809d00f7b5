"""`run.sh install-service`: a systemd unit that starts production at boot,
rendered from systemd.service beside this file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from string import Template

from driver.console import Refused, say
from driver.project import Project

TEMPLATE = Path(__file__).with_name("systemd.service")
UNIT_DIR = Path("/etc/systemd/system")
# What `down` takes beyond the longest wait (stopping the rest, removing).
STOP_MARGIN = 60


def stop_timeout(worker_grace: str, web_graceful: str) -> int:
    """Seconds systemd lets `run.sh -0 down` take: the longer of the workers'
    WORKER_GRACE and web's graceful timeout (+5, as docker stop gets), plus
    a margin; systemd's own default, 90 s, would cut a worker's tasks short."""
    waits = [int(value) for value in (worker_grace, web_graceful) if value.isdigit()]
    return max([*waits, 30]) + 5 + STOP_MARGIN


def unit_text(project_name: str, root: Path, env_file: Path | None, stop_seconds: int) -> str:
    """The unit; ``env_file`` only when ENV_FILE named one (pure)."""
    environment = f"Environment=ENV_FILE={env_file}\n" if env_file else ""
    return Template(TEMPLATE.read_text()).substitute(
        project=project_name, root=root, environment=environment, stop_timeout=stop_seconds
    )


def install_service(project: Project, install: bool) -> int:
    if not project.env_file.is_file():
        raise Refused(f"no {project.env_label}: set up production first (README: Deploying)")
    settings = project.prepare_existing()
    seconds = stop_timeout(
        settings.worker.get("WORKER_GRACE", ""), settings.web.get("GUNICORN_GRACEFUL_TIMEOUT", "")
    )
    unit = unit_text(
        settings.project,
        project.root,
        project.env_file if project.env_file_given else None,
        seconds,
    )
    name = f"{settings.project}.service"
    if not install:
        print(unit, end="")
        say(f"to install it: sudo sh run.sh install-service --install (writes {UNIT_DIR / name})")
        return 0
    if os.geteuid() != 0:
        raise Refused(
            f"--install writes {UNIT_DIR}: run it as root (sudo sh run.sh install-service --install)"
        )
    if shutil.which("systemctl") is None:
        raise Refused(
            "systemctl not found: this host does not run systemd; restart: unless-stopped "
            "already brings the stack back with Docker"
        )
    (UNIT_DIR / name).write_text(unit)
    for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", name]):
        if project.runner.attach(argv) != 0:
            raise Refused(f"{' '.join(argv)} failed (above)")
    say(f"installed and enabled {name}: production starts at boot (now: systemctl start {name})")
    return 0
