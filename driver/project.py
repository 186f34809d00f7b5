"""One run of the driver: the repository, the env file, the mode and the
settings, and the steps every command shares before it touches Docker."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from driver import checks, compose, envfile, offsite, policy, schedule, swarm
from driver.compose import Compose
from driver.console import Refused, say
from driver.modes import DEV, Mode, compose_files, mode_of_config_files
from driver.runner import Runner
from driver.settings import Port, Settings, compose_error, from_config, label

CONFIG_FILES_LABEL = '{{.Label "com.docker.compose.project.config_files"}}'


def pgpass_escape(password: str) -> str:
    """A password as a .pgpass line's last field: \\ and : escaped."""
    return password.replace("\\", "\\\\").replace(":", "\\:")


class Project:
    def __init__(self, root: Path, caller_dir: Path, runner: Runner | None = None):
        self.root = root
        self.caller_dir = caller_dir
        self.runner = runner or Runner(root)
        given = self.runner.env.get("ENV_FILE", "")
        self.env_file_given = bool(given)
        self.env_file = (caller_dir / given) if given else root / ".env"
        self.mode: Mode | None = None
        self.mode_given = False
        self._settings: Settings | None = None

    # -- settings ----------------------------------------------------------------

    @property
    def env_label(self) -> str:
        return label(self.env_file, self.root)

    @property
    def current(self) -> Mode:
        return self.mode or DEV

    @property
    def compose(self) -> Compose:
        env_file = self.env_file if self.env_file.is_file() else None
        return Compose(tuple(compose_files(self.current, self.root)), env_file)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self.load()
        return self._settings

    def load(self) -> Settings:
        """Read the settings through Compose, as the containers get them (a
        malformed .env or a missing required setting fails here)."""
        done = self.runner.run(self.compose.config(), quiet=True)
        if not done.ok:
            env_text = self.env_file.read_text() if self.env_file.is_file() else ""
            raise Refused(compose_error(done.stderr or done.stdout, env_text))
        settings = from_config(json.loads(done.stdout), self.env_label)
        if not settings.project:
            raise Refused(
                f"Compose reported no project name; set COMPOSE_PROJECT_NAME in {self.env_label}"
            )
        # pgAdmin's password file needs the password escaped (compose.dev.yml).
        self.runner.env.setdefault("POSTGRES_PASSWORD_PGPASS", pgpass_escape(settings.db_password))
        self._settings = settings
        return settings

    def export_user_ids(self) -> None:
        """The web image's user takes the caller's ids (files in the dev bind
        mount stay theirs); root's would make it run as root, so 1000 instead."""
        env_text = self.env_file.read_text() if self.env_file.is_file() else ""
        values = envfile.values(env_text)
        for name, own in (("APP_UID", os.getuid()), ("APP_GID", os.getgid())):
            if not self.runner.env.get(name) and not values.get(name):
                self.runner.env[name] = str(own or 1000)

    # -- the steps before a command ---------------------------------------------

    def prepare(self) -> Settings:
        """Everything a command that starts a stack needs first."""
        checks.require_docker(self.runner)
        self.ensure_env_file()
        self.export_user_ids()
        settings = self.load()
        if self.current.is_prod:
            found = policy.problems(settings)
            if found:
                raise Refused(found[0])
            try:
                schedule.parse_schedule(settings.backup.get("BACKUP_SCHEDULE", schedule.OFF))
            except ValueError as error:
                raise Refused(f"{error} (in {settings.env_label})") from None
            try:
                offsite.target(settings.backup)
            except ValueError as error:
                raise Refused(f"{error} (in {settings.env_label})") from None
        return settings

    def prepare_existing(self) -> Settings:
        """For commands on a stack that may already run: its mode unless one was given."""
        checks.require_docker(self.runner)
        if not self.env_file.is_file():
            if self.env_file_given:
                raise Refused(f"ENV_FILE {self.env_file} does not exist")
            raise Refused(
                f"no {self.env_label} here yet: sh run.sh -1 creates one for development "
                "(production: README, Deploying)"
            )
        self.export_user_ids()
        settings = self.load()
        if not self.mode_given:
            running = self.running_mode()
            if running is not None and running != self.current:
                self.mode = running
                settings = self.load()
        return settings

    def ensure_env_file(self) -> None:
        if self.env_file.is_file():
            return
        if self.current.is_prod:
            raise Refused(
                f"no {self.env_label}: copy .env.example to .env and set its production values "
                "(README: Deploying)"
            )
        if self.env_file_given:
            raise Refused(f"ENV_FILE {self.env_file} does not exist")
        example = (self.root / ".env.example").read_text()
        self.env_file.write_text(
            envfile.with_values(example, {"SECRET_KEY": envfile.new_secret_key()})
        )
        say("created .env from .env.example with a new SECRET_KEY (development values)")

    # -- the running stack -------------------------------------------------------

    def running_mode(self) -> Mode | None:
        """prod or dev, from the Compose files the project's containers were made with."""
        argv = compose.project_containers(self.settings.project, format=CONFIG_FILES_LABEL)
        lines = self.runner.run(argv, quiet=True).stdout.splitlines()
        return mode_of_config_files(lines[0] if lines else "")

    def port_check(self) -> tuple[list[Port], str | None]:
        """The mode's published ports, and a line for the first one another
        program holds (this project's own containers hold theirs: no conflict)."""
        ours = self.runner.run(
            compose.project_containers(
                self.settings.project, all_states=False, format="{{.Ports}}"
            ),
            quiet=True,
        ).stdout
        ports = checks.mode_ports(self.current, self.settings)
        return ports, checks.port_problem(ports, ours, checks.port_in_use, self.env_label)

    def refuse_mode_switch(self) -> None:
        checks.refuse_mode_switch(self.current, self.running_mode(), self.settings.project)

    def require_stack_db(self, command: str) -> None:
        if self.settings.database_url:
            raise Refused(
                f"{command} works on this stack's db service, but DATABASE_URL points "
                "elsewhere: use that database's own tools"
            )

    def refuse_swarm_stack(self) -> None:
        """Production's volumes are the Swarm stack's too (sh run.sh swarm):
        never two databases on one volume."""
        if not self.current.is_prod:
            return
        stack = self.settings.project
        if self.runner.run(swarm.stack_containers_argv(stack), quiet=True).stdout.strip():
            raise Refused(
                f"the {stack} stack runs on Docker Swarm here, on the same volumes: use sh run.sh "
                "swarm, or remove it first with sh run.sh swarm rm (its volumes stay)"
            )

    def start_db(self) -> None:
        """Start the mode's db (nothing else) and wait for it to be healthy;
        a db that is not running is built first (its image is the stack's)."""
        self.refuse_mode_switch()
        self.refuse_swarm_stack()
        build = () if self.running("db") else ("--build",)
        done = self.runner.run(self.compose.up(*build, "db"), quiet=True)
        if not done.ok:
            print((done.stdout + done.stderr).rstrip(), file=sys.stderr)
            raise Refused("the database did not start (above; sh run.sh logs db)")

    def running(self, service: str) -> bool:
        return bool(self.runner.run(self.compose.running(service), quiet=True).stdout.strip())

    def one_off(self, service: str, *args: str) -> int:
        """A one-off container of ``service`` on this terminal (a tty only when there is one)."""
        tty = self.runner.interactive()
        return self.runner.attach(self.compose.one_off(service, *args, tty=tty))

    def up_failed(self) -> NoReturn:
        say(
            f"the {self.current.label} stack did not become healthy; last lines of the "
            "migrate, web and worker logs:"
        )
        argv = self.compose("logs", "--tail", "15", "migrate", "web", "worker")
        logs = self.runner.run(argv, quiet=True).stdout
        print(logs.rstrip(), file=sys.stderr)
        if "password authentication failed" in logs:
            say(
                "the database volume was initialised with another POSTGRES_PASSWORD than "
                f"{self.env_label} has: put the old one back, or in dev start afresh with "
                "sh run.sh reset (sh run.sh doctor explains)"
            )
        raise Refused("start failed (full logs: sh run.sh logs; status: sh run.sh ps)")
