"""Starting a stack: development in one ``up``; production as a deploy that
never loses data and drops no request.

Production builds, tags the image as a release, asks it what it would
migrate, and only then touches the database: pending migrations get a
backup first, and a failed migrate restores it while the previous web
containers keep serving. Then rollout.py switches traffic to the new web.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

from driver import checks, compose, releases, schedule
from driver.console import Refused, say
from driver.database import Database, ident, literal
from driver.modes import Mode
from driver.pitr import Pitr
from driver.project import Project
from driver.proxy import Proxy
from driver.rollout import Rollout
from driver.settings import Settings

# Exit statuses of the image's `plan` role (core/.../migration_plan.py).
PLAN_NONE, PLAN_PENDING, PLAN_REFUSED, PLAN_BREAKING = 0, 10, 11, 12
ALLOW_BREAKING = "--allow-breaking"
READY_ATTEMPTS = 30
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
    actions = {PLAN_NONE: "none", PLAN_PENDING: "migrate", PLAN_REFUSED: "gate"}
    return {**actions, PLAN_BREAKING: "breaking"}.get(status, "unknown")


def gate_warning(logs: str) -> str:
    """The migration gate's warning in development's migrate logs, if any."""
    return "\n".join(GATE_WARNING.findall(logs))


def uses_dev_s3(mode: Mode, settings: Settings) -> bool:
    """Development with STORAGE_BACKEND=s3: web's uploads go to the dev S3
    server, compose.dev.yml's s3 service (profile s3)."""
    return mode.name == "dev" and settings.storage_backend == "s3"


def start_dev(project: Project) -> None:
    """Development: the one-shot migrate runs inside `up` (the gate only warns)."""
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    profiles = ("s3",) if uses_dev_s3(project.current, project.settings) else ()
    argv = project.compose.up(
        "--build", "--remove-orphans", *project.current.services, profiles=profiles
    )
    if project.runner.run(argv, capture=False).returncode != 0:
        project.up_failed()
    logs = project.runner.run(
        project.compose("logs", "--no-log-prefix", "--since", since, "migrate"), quiet=True
    ).stdout
    warning = gate_warning(logs)
    if warning:
        print(warning, file=sys.stderr)


# The images a deploy builds: web's (migrate and the workers run it too),
# and the db image's two targets.
BUILT = ("web", "db", "backup")


def last_scheduled(project: Project) -> schedule.Status | None:
    """How the last scheduled backup went (its status file in BACKUP_DIR)."""
    db = Database(project)
    return schedule.read_status(db.backup_dir / schedule.status_name(db.data_mode, db.name))


def scheduled_backups_warning(project: Project) -> None:
    """Say so when the last scheduled backup, or the WAL archive's copy, failed."""
    status = last_scheduled(project)
    if schedule.problem(status):
        say(f"warning: {'; '.join(schedule.status_lines(status))}")


class Deploy:
    def __init__(self, project: Project, allow_breaking: bool = False):
        self.project = project
        self.runner = project.runner
        self.compose = project.compose
        self.db = Database(project)
        self.allow_breaking = allow_breaking

    def run(self) -> None:
        self.project.refuse_swarm_stack()
        scheduled_backups_warning(self.project)
        if self.runner.run(self.compose("build", *BUILT), capture=False).returncode != 0:
            raise Refused("an image did not build (output above)")
        if self.runner.run(self.compose.up("db"), capture=False).returncode != 0:
            self.project.up_failed()
        Pitr(self.project).ensure_base_backup()
        # BACKUP_DIR made by this user, not by Docker as root for the bind
        # mount. Not waited for: the service's health is the last scheduled
        # backup's outcome, said above when it failed.
        self.db.ensure_backup_dir()
        backups = self.compose("up", "--detach", "--no-deps", "backup")
        if self.runner.run(backups, capture=False).returncode:
            raise Refused("the backup service did not start (above; sh run.sh -0 logs backup)")
        if already_deployed(self.state()):
            say("no pending migrations (this image already deployed on this database)")
            self.start_web()
            return
        flags = [ALLOW_BREAKING] if self.allow_breaking else []
        plan = self.runner.run(self.compose.one_off("migrate", "plan", *flags))
        action = plan_action(plan.returncode)
        if action == "gate":
            raise Refused("deploy refused by the migration gate (above); nothing was changed")
        if action == "breaking":
            raise Refused(
                "deploy refused: these migrations break the release in service, which keeps "
                "serving until the switch (above). Split the change into expand, then "
                "contract, across two releases (README: Schema changes during deploys), or "
                f"accept errors until the switch with sh run.sh -0 {ALLOW_BREAKING}. "
                "Nothing was changed."
            )
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
        Rollout(self.project).run()
        say(f"release {self.tag_release()} in service (sh run.sh -0 releases)")
        self.prune_releases()

    def releases(self) -> tuple[list[releases.Release], str]:
        """The releases kept, and the image id of :latest."""
        listing = self.runner.run(releases.list_argv(self.project.settings.project), quiet=True)
        return releases.parse(listing.stdout), releases.latest_id(listing.stdout)

    def in_service(self) -> str:
        """The image id the running web containers run ('' when none runs)."""
        serving = Rollout(self.project).serving()
        return serving[0].image_id if serving else ""

    def tag_release(self) -> str:
        """Tag the image just built as a release, unless one has it already."""
        kept, latest = self.releases()
        known = releases.of_image(kept, latest)
        if known:
            return known.tag
        tag = releases.new_tag(datetime.now(timezone.utc))
        project = self.project.settings.project
        if not self.runner.run(releases.tag_argv(project, "latest", tag), quiet=True).ok:
            raise Refused(f"could not tag the image as release {tag} (docker tag failed)")
        return tag

    def prune_releases(self) -> None:
        keep = releases.keep_count(self.project.settings.driver.get("releases_keep", "3"))
        kept, latest = self.releases()
        old = releases.to_prune(kept, keep, latest)
        if old:
            argv = releases.untag_argv(self.project.settings.project, old)
            self.runner.run(argv, quiet=True)

    def state(self) -> str | None:
        image = releases.latest(self.project.settings.project)
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
        # The database alone, on purpose: a migration does not touch the
        # uploads, and archiving every upload on each deploy would be slow.
        # A restore of it leaves the media as it is (commands.restore).
        pre_migrate = self.db.backup("pre-migrate")
        self.db.prune()
        started = time.monotonic()
        if self.migrate():
            say(f"migrated in {time.monotonic() - started:.0f} s")
            return
        self.rollback(pre_migrate)

    def rollback(self, pre_migrate: Path) -> NoReturn:
        """A migrate failed: keep what it left in a backup, put the pre-migrate
        backup back, and say all of it in one paragraph."""
        try:
            failed = self.db.backup("failed-migrate")
        except Refused:
            at_failure = "(could not be saved)"
        else:
            at_failure = str(failed)
            self.db.prune(keep=pre_migrate)
        if not self.db.restore(pre_migrate):
            raise Refused(
                "DEPLOY FAILED: a migration failed and the automatic restore failed too. "
                "The database is as the failed migration left it. Restore it yourself: "
                f"sh run.sh -0 restore {pre_migrate}"
            )
        rollout = Rollout(self.project)
        serving, proxy = rollout.serving(), rollout.proxy()
        if not serving or proxy is None:
            web = "no web container was running before this deploy, none was started"
        elif self.wait_ready(proxy, serving[0].service):
            web = "the previous web containers kept serving"
        else:
            web = "the previous web containers are NOT ready: see sh run.sh logs web"
        raise Refused(
            "DEPLOY FAILED: a migration failed (its error is above), so nothing was deployed. "
            f"The database was restored from the backup taken just before migrating, "
            f"{pre_migrate}, and {web}. The database as the failed migration left it is in "
            f"{at_failure}. Fix the migration, then deploy again with sh run.sh -0."
        )

    def wait_ready(self, proxy: Proxy, slot: str) -> bool:
        """Poll the serving slot's readiness probe (it queries the database)."""
        for _ in range(READY_ATTEMPTS):
            if proxy.sees_ready(slot):
                return True
            time.sleep(1)
        return False


def site_lines(site: str, http_port: str, https_port: str) -> list[str]:
    """Where production answers, from SITE_ADDRESS and the proxy's ports."""
    names = checks.site_names(site)
    if not names or site.strip().startswith("http://"):
        line = (
            f"web:      plain HTTP on port {http_port} for a TLS proxy in front (SITE_ADDRESS="
            f"{site}); it must set X-Forwarded-Proto (README: Deploying)"
        )
        return [line]
    suffix = "" if https_port == "443" else f":{https_port}"
    return [f"web:      https://{names[0]}{suffix}/  (admin: /admin/; http:// redirects to it)"]


def production_lines(settings: Settings) -> list[str]:
    """Where production answers, from the proxy's settings and ports."""
    ports = {port.setting: port.value for port in settings.published("proxy")}
    return site_lines(
        settings.proxy.get("SITE_ADDRESS", ""),
        ports.get("HTTP_PORT", ""),
        ports.get("HTTPS_PORT", ""),
    )


def print_urls(project: Project) -> None:
    mode, settings = project.current, project.settings
    if mode.is_prod:
        for line in production_lines(settings):
            say(line)
    web = settings.published("web")
    if web and mode.name == "dev":
        say(f"web:      http://localhost:{web[0].value.partition('-')[0]}/  (admin: /admin/)")
    if uses_dev_s3(mode, settings):
        say(f"S3:       {dev_s3_line(settings.web)}")
    if mode.name == "dev":
        say(f"mail:     http://localhost:{settings.first_port('mail')}/  (every mail sent)")
    if not mode.is_prod:
        email = settings.pgadmin.get("PGADMIN_DEFAULT_EMAIL", "")
        say(f"pgAdmin:  http://localhost:{settings.first_port('pgadmin')}/  (login {email})")
        say(
            f"database: 127.0.0.1:{settings.first_port('db')}  "
            f"({settings.db_user}@{settings.db_name})"
        )


def dev_s3_line(web: dict[str, str]) -> str:
    """The dev S3 server as web reaches it, and as the host does (compose.dev.yml)."""
    return (
        f"{web.get('S3_ENDPOINT_URL', '')}  (bucket {web.get('S3_BUCKET', '')}; "
        "keys S3_DEV_ACCESS_KEY_ID / S3_DEV_SECRET_ACCESS_KEY)"
    )
