"""Starting a stack: development in one ``up``; production as a deploy that
never loses data.

Production builds, asks the new image what it would migrate, and only then
touches the database: pending migrations get a backup first, and a failed
migrate restores it while the previous web containers keep serving.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

from driver import compose
from driver.console import Refused, say
from driver.database import Database, ident, literal
from driver.project import Project

# Exit statuses of the image's `plan` role (core/.../migration_plan.py).
PLAN_NONE, PLAN_PENDING, PLAN_REFUSED = 0, 10, 11
READY_ATTEMPTS = 30
OFF_WORDS = {"false", "no", "off", "0"}  # SECURE_SSL_REDIRECT turned off
READY_PROBE = (
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"
)
# From the warning to its closing line (or to the end, if that is missing).
GATE_WARNING = re.compile(
    r"^WARNING: models have changes(?:.*?commit it with the model change[^\n]*|.*\Z)",
    re.MULTILINE | re.DOTALL,
)


def deploy_state_sql(image_id: str) -> str:
    """'STAMP|RECORDED': what decides the migration plan (the image, and the
    migrations the database has applied), and the stamp of the last deploy
    that passed the plan, kept as the database's comment (a restored or
    recreated database has none, so it is planned anew)."""
    return (
        f"SELECT {literal(f'deployed {image_id} with migrations ')} "
        "|| (SELECT count(*) || ':' || coalesce(max(id), 0) FROM django_migrations) "
        "|| '|' || coalesce(shobj_description(oid, 'pg_database'), '') "
        "FROM pg_database WHERE datname = current_database()"
    )


def record_sql(database: str, stamp: str) -> str:
    return f"COMMENT ON DATABASE {ident(database)} IS {literal(stamp)}"


def already_deployed(state: str | None) -> bool:
    """This image was deployed on this database as it is: skip the plan."""
    if not state or "|" not in state:
        return False
    stamp, recorded = state.split("|", 1)
    return stamp == recorded


def plan_action(status: int) -> str:
    """What the deploy does after the plan: none, migrate, or refuse."""
    return {PLAN_NONE: "none", PLAN_PENDING: "migrate", PLAN_REFUSED: "gate"}.get(status, "unknown")


def gate_warning(logs: str) -> str:
    """The migration gate's warning in development's migrate logs, if any."""
    return "\n".join(GATE_WARNING.findall(logs))


def start_dev(project: Project) -> None:
    """Development: the one-shot migrate runs inside `up` (the gate only warns)."""
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    argv = project.compose.up("--build", "--remove-orphans", *project.current.services)
    if project.runner.run(argv, capture=False).returncode != 0:
        project.up_failed()
    logs = project.runner.run(
        project.compose("logs", "--no-log-prefix", "--since", since, "migrate"), quiet=True
    ).stdout
    warning = gate_warning(logs)
    if warning:
        print(warning, file=sys.stderr)


class Deploy:
    def __init__(self, project: Project):
        self.project = project
        self.runner = project.runner
        self.compose = project.compose
        self.db = Database(project)

    def run(self) -> None:
        if self.runner.run(self.compose("build", "web"), capture=False).returncode != 0:
            raise Refused("the web image did not build (output above)")
        if self.runner.run(self.compose.up("db"), capture=False).returncode != 0:
            self.project.up_failed()
        if already_deployed(self.state()):
            say("no pending migrations (this image already deployed on this database)")
            self.start_web()
            return
        plan = self.runner.run(self.compose.one_off("migrate", "plan"))
        action = plan_action(plan.returncode)
        if action == "gate":
            raise Refused("deploy refused by the migration gate (above); nothing was changed")
        if action == "unknown":
            raise Refused(
                f"could not read the migration plan (exit {plan.returncode}, output above); "
                "nothing was changed"
            )
        if action == "none":
            say("no pending migrations")
        else:
            self.migrate_with_backup(plan.stdout)
        self.start_web()
        self.record()

    def start_web(self) -> None:
        argv = self.compose.up("--remove-orphans", "--no-deps", "web")
        if self.runner.run(argv, capture=False).returncode != 0:
            self.project.up_failed()

    def state(self) -> str | None:
        image = f"{self.project.settings.project}-web:latest"
        done = self.runner.run(compose.image_id(image), quiet=True)
        if not done.ok:
            return None
        return self.db.sql(self.db.name, deploy_state_sql(done.stdout.strip()), quiet=True)

    def record(self) -> None:
        state = self.state()
        if state:
            self.db.sql(self.db.name, record_sql(self.db.name, state.split("|", 1)[0]), quiet=True)

    def migrate(self) -> bool:
        return self.runner.run(self.compose.one_off("migrate", "migrate"), capture=False).ok

    def migrate_with_backup(self, plan: str) -> None:
        say("pending migrations: " + " ".join(plan.split()))
        if self.project.settings.database_url:
            say(
                "DATABASE_URL points at a database outside this stack: "
                "no automatic backup before migrating"
            )
            if not self.migrate():
                raise Refused("migrate failed (above); restore that database with its own tools")
            return
        pre_migrate = self.db.backup("pre-migrate")
        started = time.monotonic()
        if self.migrate():
            say(f"migrated in {time.monotonic() - started:.0f} s")
            return
        self.rollback(pre_migrate)

    def rollback(self, pre_migrate: Path) -> NoReturn:
        """A migrate failed: keep what it left in a backup, put the pre-migrate
        backup back, and say all of it in one paragraph."""
        try:
            at_failure = str(self.db.backup("failed-migrate", keep=pre_migrate))
        except Refused:
            at_failure = "(could not be saved)"
        if not self.db.restore(pre_migrate):
            raise Refused(
                "DEPLOY FAILED: a migration failed and the automatic restore failed too. "
                "The database is as the failed migration left it. Restore it yourself: "
                f"sh run.sh -0 restore {pre_migrate}"
            )
        if not self.project.running("web"):
            web = "no web container was running before this deploy, none was started"
        elif self.wait_ready():
            web = "the previous web containers kept serving"
        else:
            web = "the previous web containers are NOT ready: see sh run.sh logs web"
        raise Refused(
            "DEPLOY FAILED: a migration failed (its error is above), so nothing was deployed. "
            f"The database was restored from the backup taken just before migrating, "
            f"{pre_migrate}, and {web}. The database as the failed migration left it is in "
            f"{at_failure}. Fix the migration, then deploy again with sh run.sh -0."
        )

    def wait_ready(self) -> bool:
        """Poll the running web's readiness probe (it queries the database)."""
        argv = self.compose.exec("web", "python", "-c", READY_PROBE)
        for _ in range(READY_ATTEMPTS):
            if self.runner.run(argv, quiet=True).ok:
                return True
            time.sleep(1)
        return False


def print_urls(project: Project) -> None:
    mode, settings = project.current, project.settings
    web = settings.published("web")
    port = web[0].value.partition("-")[0] if web else ""
    # No web line where web publishes no port (db-only modes, or an override).
    if web and mode.name == "dev":
        say(f"web:      http://localhost:{port}/  (admin: /admin/)")
    elif web and mode.is_prod and settings.web.get("SECURE_SSL_REDIRECT", "").lower() in OFF_WORDS:
        say(f"web:      http://localhost:{port}/ on {web[0].host_ip}  (admin: /admin/)")
    elif web and mode.is_prod:
        say(
            f"web:      {web[0].host_ip}:{port} for your TLS proxy; plain HTTP is redirected "
            "to https:// (README: HTTPS)"
        )
    if not mode.is_prod:
        email = settings.pgadmin.get("PGADMIN_DEFAULT_EMAIL", "")
        say(f"pgAdmin:  http://localhost:{settings.first_port('pgadmin')}/  (login {email})")
        say(
            f"database: 127.0.0.1:{settings.first_port('db')}  "
            f"({settings.db_user}@{settings.db_name})"
        )
