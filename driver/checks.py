"""Pre-flight checks: each says what is wrong and how to fix it, in one line.

The functions that decide are pure (they take what was observed); the
observations are small and listed at the end.
"""

from __future__ import annotations

import errno
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

from driver.console import Refused
from driver.envfile import setting_names
from driver.modes import Mode
from driver.runner import Runner
from driver.settings import HOST_WEB_PORT, Port, Settings

DOCKER_MISSING = (
    "docker is not installed: install Docker Engine (https://docs.docker.com/engine/install/)"
)
COMPOSE_MISSING = (
    "Docker Compose v2 is missing: install the compose plugin so that "
    "'docker compose version' works"
)
DAEMON_DOWN = (
    "the Docker daemon is not reachable: start Docker (e.g. sudo systemctl start docker) "
    "or check DOCKER_HOST"
)
MIN_COMPOSE = (2, 24, 4)  # compose.dev.yml uses !override
# Files whose CR line endings break a shell, Compose or Docker.
LF_FILES = (
    "run.sh",
    "entrypoint.sh",
    "compose.yml",
    "compose.dev.yml",
    "docker/Dockerfile",
    "docker/gunicorn.conf.py",
)


def require_docker(runner: Runner) -> None:
    """Docker, Compose v2 and a reachable daemon, or one line saying which is missing."""
    if shutil.which("docker") is None:
        raise Refused(DOCKER_MISSING)
    if not runner.run(["docker", "compose", "version"], quiet=True).ok:
        raise Refused(COMPOSE_MISSING)
    if not runner.run(["docker", "info"], quiet=True).ok:
        raise Refused(DAEMON_DOWN)


def version_at_least(version: str, minimum: tuple[int, ...]) -> bool:
    numbers = []
    for part in version.lstrip("v").split("."):
        digits = "".join(c for c in part if c.isdigit()) or "0"
        numbers.append(int(digits))
    return tuple(numbers) >= minimum


def mode_ports(mode: Mode, settings: Settings) -> list[Port]:
    """The host ports ``mode`` publishes, from the resolved Compose files."""
    services = mode.services or tuple(settings.ports)  # every service the files start
    ports = [port for service in services for port in settings.published(service)]
    if mode.name == "host" and settings.host_web_port:
        ports.append(Port(HOST_WEB_PORT, settings.host_web_port, "127.0.0.1"))
    return ports


def port_problem(
    ports: Iterable[Port], ours: str, in_use: Callable[[int], bool], env_label: str
) -> str | None:
    """The first port that another program holds; ``ours`` is the Ports
    column of this project's containers (their ports are no conflict)."""
    for port in ports:
        for number in port.numbers():
            if f":{number}->" in ours:
                continue
            if in_use(number):
                return (
                    f"port {number} ({port.setting}) is already in use by another program: "
                    f"stop it, or set {port.setting} in {env_label} to a free port"
                )
    return None


def refuse_mode_switch(mode: Mode, running: Mode | None, project: str) -> None:
    """Dev and production share the project's containers (not its volumes):
    replacing one by the other must be asked for, not happen by accident."""
    if running is None:
        return
    if mode.is_prod and not running.is_prod:
        raise Refused("the development stack is running; stop it first: sh run.sh -1 down")
    if not mode.is_prod and running.is_prod:
        raise Refused(
            f"the production stack is running in project {project}; stop it first "
            "(sh run.sh -0 down) or use another COMPOSE_PROJECT_NAME"
        )


def missing_settings(example: str, env_text: str, read: Iterable[str] | None = None) -> list[str]:
    """Settings that .env.example sets and the env file does not; with
    ``read`` (the variables the mode's Compose files read), only those."""
    have = set(setting_names(env_text))
    wanted = setting_names(example)
    if read is not None:
        wanted = [name for name in wanted if name in set(read)]
    return [name for name in wanted if name not in have]


def crlf_files(root: Path, env_file: Path) -> list[str]:
    """The scripts, Compose files and env file that have CR line endings."""
    found = []
    for path in [root / name for name in LF_FILES] + [env_file]:
        if path.is_file() and b"\r" in path.read_bytes():
            found.append(str(path.relative_to(root)) if root in path.parents else str(path))
    return found


def port_in_use(port: int) -> bool:
    """Does a program listen on ``port`` (any address)? Tried by binding."""
    for address in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return True
    return False


def site_names(site_address: str) -> list[str]:
    """The host names of Caddy's SITE_ADDRESS (none for ":80", any host)."""
    names = []
    for word in site_address.replace(",", " ").split():
        host = word.split("://", 1)[-1].split("/", 1)[0]
        if host.startswith("["):  # [::1]:443
            names.append(host.split("]", 1)[0] + "]")
        elif host and not host.startswith(":"):
            names.append(host.rsplit(":", 1)[0] if host.count(":") == 1 else host)
    return names


def site_problem(site_address: str, allowed_hosts: str) -> str | None:
    """A SITE_ADDRESS name that Django's ALLOWED_HOSTS refuses (it would
    answer 400 Bad Request to every visitor of it)."""
    allowed = [h.strip().lower() for h in allowed_hosts.split(",") if h.strip()]
    for name in site_names(site_address):
        host = name.lower()
        if not any(
            a == "*" or a == host or (a.startswith(".") and (host == a[1:] or host.endswith(a)))
            for a in allowed
        ):
            return (
                f"SITE_ADDRESS names {name}, which ALLOWED_HOSTS lacks: Django would answer "
                f"400 to its visitors; add {name} to ALLOWED_HOSTS"
            )
    return None
