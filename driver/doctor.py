"""`run.sh doctor`: one line per check (✓ fine, ✗ a problem and its fix,
- not checked), then a count; exit 1 when anything is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from driver import checks, compose, policy, schedule
from driver.console import Refused, say
from driver.database import Database, literal
from driver.deploy import last_scheduled
from driver.pitr import Pitr
from driver.project import Project

RESERVE_KB = 1024 * 1024  # free disk beyond twice the database's size


class Doctor:
    def __init__(self, project: Project):
        self.project = project
        self.runner = project.runner
        self.problems = 0

    def ok(self, text: str) -> None:
        print(f"✓ {text}", flush=True)

    def bad(self, text: str) -> None:
        print(f"✗ {text}", flush=True)
        self.problems += 1

    def skip(self, text: str) -> None:
        print(f"- {text}", flush=True)

    def end(self) -> int:
        if self.problems:
            say(f"doctor: {self.problems} problem(s), each with its fix above")
            return 1
        say("doctor: no problems found")
        return 0

    def run(self) -> int:
        project = self.project
        reachable = self.docker()
        crlf = checks.crlf_files(project.root, project.env_file)
        if crlf:
            self.bad(
                f"CRLF line endings in: {' '.join(crlf)}; convert them: sed -i 's/\\r$//' FILE "
                "(and git config core.autocrlf input)"
            )
        else:
            self.ok("line endings: LF in the scripts, Compose files and settings")
        label = project.env_label
        if not project.env_file.is_file():
            self.bad(
                f"{label}: missing; create it: cp .env.example .env (sh run.sh -1 does that for development)"
            )
            return self.end()
        if not reachable:
            self.settings_present(None)
            return self.end()
        project.export_user_ids()
        try:
            settings = project.load()
        except Refused as error:
            self.settings_present(None)
            self.bad(f"{label}: {error}")
            return self.end()
        running = None if project.mode_given else project.running_mode()
        if running is not None and running != project.current:
            project.mode = running
            settings = project.load()
        say(f"checking the {project.current.label} setup (project {settings.project})")
        variables = self.runner.run(project.compose.variables(), quiet=True)
        self.settings_present(set(json.loads(variables.stdout)) if variables.ok else None)
        if project.current.is_prod:
            found = policy.problems(settings)
            if found:
                self.bad(f"production settings: {found[0]}")
            else:
                self.ok(
                    "production settings: SECRET_KEY, ALLOWED_HOSTS and the database password are safe"
                )
            site = settings.proxy.get("SITE_ADDRESS", "")
            problem = checks.site_problem(site, settings.web.get("ALLOWED_HOSTS", ""))
            if problem:
                self.bad(problem)
            else:
                self.ok(f"SITE_ADDRESS {site}: every name it serves is in ALLOWED_HOSTS")
        else:
            self.skip(
                f"production settings: not checked in {project.current.name} mode (sh run.sh -0 doctor checks them)"
            )
        self.ports()
        volume = f"{settings.project}_db-{project.current.data}-data"
        if self.runner.run(compose.volume_exists(volume), quiet=True).ok:
            self.ok(f"volume {volume} present")
            self.password()
        else:
            self.skip(f"volume {volume}: not created yet (the first start creates it)")
        self.disk()
        if project.current.is_prod:
            self.archive()
            self.scheduled()
        return self.end()

    def archive(self) -> None:
        found = Pitr(self.project).archiver() if self.project.running("db") else None
        if found is None:
            self.skip("WAL archive: not checked (db is not running)")
        elif found[0]:
            self.ok(found[1])
        else:
            self.bad(found[1])

    def scheduled(self) -> None:
        status = last_scheduled(self.project)
        line = "; ".join(schedule.status_lines(status))
        if schedule.problem(status):
            self.bad(f"{line} (sh run.sh -0 logs backup)")
        else:
            self.ok(line)

    def settings_present(self, read: set[str] | None) -> None:
        """The env file sets what .env.example sets (of what the mode reads)."""
        project = self.project
        example = (project.root / ".env.example").read_text()
        missing = checks.missing_settings(example, project.env_file.read_text(), read)
        if missing:
            self.bad(
                f"{project.env_label} lacks {' '.join(missing)}; copy those lines from .env.example"
            )
        else:
            self.ok(f"{project.env_label} has every setting of .env.example")

    def docker(self) -> bool:
        """Docker, the daemon and Compose; whether the daemon answers."""
        reachable = False
        if shutil.which("docker") is None:
            self.bad(f"Docker: not installed; {checks.DOCKER_MISSING.split(': ', 1)[1]}")
        elif not self.runner.run(["docker", "info"], quiet=True).ok:
            self.bad(
                "Docker engine: not reachable; start it (sudo systemctl start docker) or check DOCKER_HOST"
            )
        else:
            server = self.runner.run(
                ["docker", "version", "--format", "{{.Server.Version}}"], quiet=True
            )
            self.ok(f"Docker engine reachable ({server.stdout.strip()})")
            reachable = True
        done = self.runner.run(["docker", "compose", "version", "--short"], quiet=True)
        version = done.stdout.strip()
        if not done.ok or not version:
            self.bad(
                "Docker Compose v2: missing; install the compose plugin (docker compose version must work)"
            )
        elif checks.version_at_least(version, checks.MIN_COMPOSE):
            self.ok(f"Docker Compose {version} (2.24.4 or newer)")
        else:
            self.bad(
                f"Docker Compose {version} is older than 2.24.4 (compose.dev.yml uses !override): update the compose plugin"
            )
        return reachable

    def ports(self) -> None:
        ports, problem = self.project.port_check()
        if problem:
            self.bad(problem)
        else:
            listed = " ".join(f"{port.setting}={port.value}" for port in ports)
            self.ok(f"ports free (or this stack's): {listed}")

    def password(self) -> None:
        """The stale-volume trap: Postgres keeps the password the volume was
        first initialised with; a later POSTGRES_PASSWORD does not change it."""
        project, settings = self.project, self.project.settings
        if settings.database_url or settings.web.get("POSTGRES_PASSWORD_FILE"):
            self.skip(
                "database password: set by DATABASE_URL or POSTGRES_PASSWORD_FILE, not checked"
            )
            return
        if not project.running("db"):
            self.skip(
                "database password: db is not running, not checked (start it: sh run.sh -2 or -0)"
            )
            return
        # Over TCP to the service name: the same authentication web goes through.
        argv = project.compose.exec(
            "db", "psql", "-h", "db", "-U", settings.db_user, "-d", settings.db_name, "-tAc", "SELECT 1",
            env=("PGPASSWORD",),
        )  # fmt: skip
        done = self.runner.run(argv, quiet=True, env={"PGPASSWORD": settings.db_password})
        if done.ok:
            self.ok(f"database password in {project.env_label} opens the database")
        elif "password authentication failed" in done.stderr:
            self.bad(
                "database password: the volume was initialised with another POSTGRES_PASSWORD "
                f"than {project.env_label} has (stale volume); put the old password back, or change "
                f"it in the database (sh run.sh psql -c \"ALTER USER {settings.db_user} PASSWORD '...'\"), "
                "or in dev delete the data: sh run.sh reset"
            )
        else:
            last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
            self.bad(f"database password: cannot log in: {last}")

    def disk(self) -> None:
        project, settings = self.project, self.project.settings
        database = Database(project)
        probe: Path = database.backup_dir
        while not probe.is_dir():
            probe = probe.parent
        free_kb = shutil.disk_usage(probe).free // 1024
        need_kb, size = RESERVE_KB, ""
        if project.running("db") and not settings.database_url:
            sql = f"SELECT pg_database_size({literal(database.name)}) / 1024"
            size_kb = int(database.sql("postgres", sql, quiet=True) or 0)
            need_kb += 2 * size_kb
            size = f", database {size_kb // 1024} MB"
        where = settings.driver["backup_dir"]
        if free_kb >= need_kb:
            self.ok(f"disk: {free_kb // 1024} MB free for backups in {where}{size}")
        else:
            self.bad(
                f"disk: only {free_kb // 1024} MB free in {where}{size}; free space or point BACKUP_DIR elsewhere"
            )


def run(project: Project) -> int:
    return Doctor(project).run()
