"""Command lines for Docker and Compose: pure functions that build argv.

Nothing here runs anything (runner.py does); the unit tests read these
lists as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from driver.runner import Argv

# Every statement on its own; warnings only; stop at the first error.
PSQL = ["psql", "-v", "ON_ERROR_STOP=1", "-tAq"]
# Notices (NOTICE: database does not exist, skipping) stay out of results.
QUIET_NOTICES = "PGOPTIONS=-c client_min_messages=warning"


def psql(user: str, database: str, *statements: str) -> Argv:
    """psql's command line: each statement in its own transaction."""
    argv = [*PSQL, "-U", user, "-d", database]
    for statement in statements:
        argv += ["-c", statement]
    return argv


@dataclass(frozen=True)
class Compose:
    """``docker compose`` on one mode's files and one env file."""

    files: tuple[Path, ...]
    env_file: Path | None = None  # None: the env file does not exist

    def __call__(self, *args: str) -> Argv:
        argv = ["docker", "compose"]
        if self.env_file is not None:
            argv += ["--env-file", str(self.env_file)]
        for file in self.files:
            argv += ["-f", str(file)]
        return argv + list(args)

    def config(self) -> Argv:
        """The resolved model: defaults, .env and the process environment applied."""
        return self("config", "--format", "json")

    def variables(self) -> Argv:
        """The variables the files read, with their defaults (JSON)."""
        return self("config", "--variables", "--format", "json")

    def one_off(
        self,
        service: str,
        *args: str,
        tty: bool = False,
        entrypoint: str = "",
        volumes: tuple[str, ...] = (),
    ) -> Argv:
        """A container of ``service`` for one command, removed afterwards
        (``entrypoint``: a program of the image instead of its entrypoint;
        ``volumes``: more mounts, SOURCE:TARGET[:ro])."""
        options = [] if tty else ["-T"]
        if entrypoint:
            options += ["--entrypoint", entrypoint]
        for volume in volumes:
            options += ["--volume", volume]
        return self("run", "--rm", "--no-deps", *options, service, *args)

    def exec(self, service: str, *args: str, tty: bool = False, env: tuple[str, ...] = ()) -> Argv:
        """``args`` in the running container of ``service``. ``env``: NAME
        (its value from the driver's environment: secrets stay out of argv)
        or NAME=value."""
        options = [] if tty else ["-T"]
        for name in env:
            options += ["-e", name]
        return self("exec", *options, service, *args)

    def sql(self, user: str, database: str, *statements: str) -> Argv:
        """psql in the db container: each statement in its own transaction."""
        return self("exec", "-T", "-e", QUIET_NOTICES, "db", *psql(user, database, *statements))

    def down(self, *args: str) -> Argv:
        """Stop and remove every container of the project, those of services
        behind a profile (web-alt, the dev overlay's proxy) too."""
        return self("--profile", "*", "down", "--remove-orphans", *args)

    def running(self, service: str) -> Argv:
        return self("ps", "--status", "running", "--quiet", service)

    def up(self, *args: str, profiles: tuple[str, ...] = ()) -> Argv:
        """Start what ``args`` name (and the services of ``profiles``) and
        wait until it is healthy."""
        options = [word for name in profiles for word in ("--profile", name)]
        return self(*options, "up", "--detach", "--wait", *args)


def project_containers(project: str, *, all_states: bool = True, format: str = "") -> Argv:
    argv = ["docker", "ps", "--filter", f"label=com.docker.compose.project={project}"]
    if all_states:
        argv.append("--all")
    return argv + (["--format", format] if format else ["--quiet"])


def image_id(image: str) -> Argv:
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image]


def volume_exists(volume: str) -> Argv:
    return ["docker", "volume", "inspect", volume]


def remove_volumes(*volumes: str) -> Argv:
    return ["docker", "volume", "rm", *volumes]
