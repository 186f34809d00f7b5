"""The commands of ``sh run.sh``: one function each, whose docstring is its
help (the first line in ``sh run.sh help``, all of it in ``help COMMAND``).

Each takes the project and the words after the command, checks them, and
returns the exit status. They only sequence the steps the other modules
build and run.
"""

from __future__ import annotations

import time
from pathlib import Path

from driver import compose, devtools, doctor, media, releases, service, swarm_deploy
from driver.console import Refused, UsageError, confirm, say
from driver.database import Database
from driver.deploy import ALLOW_BREAKING, Deploy, print_urls, start_dev
from driver.media import Media
from driver.modes import DEV, PROD
from driver.project import Project
from driver.rollout import Rollout
from driver.swarm_deploy import SwarmDeploy


def up(project: Project, args: list[str]) -> int:
    """Start MODE (default -1) and wait for health; -s also creates the superuser.

    Production (-0) builds, asks the new image for its migration plan, backs
    the database up before pending migrations, migrates under a lock, and
    rolls a failed migration back while the previous web keeps serving. Then
    it starts the new web beside the old one and switches the proxy to it
    once it is ready, dropping no request; a release that never gets ready
    is removed. Migrations that would break the release in service (a
    dropped or renamed column, say) are refused unless --allow-breaking.
    """
    mode = project.current
    superuser = allow_breaking = False
    for arg in args:
        if arg in ("-s", "--superuser"):
            superuser = True
        elif arg == ALLOW_BREAKING and mode.is_prod:
            allow_breaking = True
        else:
            raise UsageError(f"unknown option for {mode.name}: {arg}")
    settings = project.prepare()
    project.refuse_mode_switch()
    _, problem = project.port_check()
    if problem:
        raise Refused(problem)
    say(f"starting the {mode.label} stack (project {settings.project})")
    if mode.is_prod:
        Deploy(project, allow_breaking).run()
    else:
        start_dev(project)
    if superuser and project.one_off("migrate", "superuser") != 0:
        raise Refused("the superuser was not created (above)")
    print_urls(project)
    if mode.name == "host":
        devtools.run_on_host(project)
    return 0


def down(project: Project, args: list[str]) -> int:
    """Stop and remove the containers of the running stack; volumes (your data) are kept."""
    if "-v" in args or "--volumes" in args:
        raise Refused(
            "down never deletes volumes; to delete the dev data on purpose use: sh run.sh reset"
        )
    project.prepare_existing()
    return project.runner.attach(project.compose.down(*args))


def logs(project: Project, args: list[str]) -> int:
    """Show recent logs (ARGS go to docker compose logs: -f to follow, a service name)."""
    project.prepare_existing()
    # Every profile: web-alt, the deploy's second web slot, included.
    return project.runner.attach(project.compose("--profile", "*", "logs", "--tail", "200", *args))


def ps(project: Project, args: list[str]) -> int:
    """List the stack's containers with their health (alias: status)."""
    project.prepare_existing()
    return project.runner.attach(project.compose("--profile", "*", "ps", "--all", *args))


def tasks(project: Project, args: list[str]) -> int:
    """List failed background tasks (with their error); --retry ID... or --retry-all enqueues them again.

    A task that raised on its last attempt is FAILED; one whose worker died
    (kill -9, out of memory) on its last attempt is LOST. The admin's task
    list shows the same, with every attempt's traceback.
    """
    project.prepare_existing()
    project.start_db()
    return project.one_off("web", "manage", "failed_tasks", *args)


def manage(project: Project, args: list[str]) -> int:
    """Run a manage.py command in a one-off web container, e.g. manage showmigrations."""
    if not args:
        raise UsageError("manage needs a manage.py command, e.g. sh run.sh manage showmigrations")
    project.prepare_existing()
    project.start_db()
    return project.one_off("web", "manage", *args)


def superuser(project: Project, args: list[str]) -> int:
    """Create the DJANGO_SUPERUSER_* superuser unless it exists (asks for a password in a terminal)."""
    if args:
        raise UsageError(
            f"superuser takes no arguments; set DJANGO_SUPERUSER_* in {project.env_label}"
        )
    project.prepare_existing()
    project.start_db()
    return project.one_off("migrate", "superuser")


def shell(project: Project, args: list[str]) -> int:
    """Open a Django shell in a one-off web container (ARGS go to manage.py shell, e.g. -c 'print(1)')."""
    project.prepare_existing()
    project.start_db()
    return project.one_off("web", "manage", "shell", *args)


def psql(project: Project, args: list[str]) -> int:
    """Open psql on MODE's database, inside its container (ARGS go to psql, e.g. -c 'SELECT 1')."""
    settings = project.prepare_existing()
    project.require_stack_db("psql")
    project.start_db()
    argv = project.compose.exec(
        "db", "psql", "-U", settings.db_user, "-d", settings.db_name, *args,
        tty=project.runner.interactive(),
    )  # fmt: skip
    return project.runner.attach(argv)


def backup(project: Project, args: list[str]) -> int:
    """Back up MODE into BACKUP_DIR: the database (pg_dump) and the uploads beside it; keeps the newest BACKUP_KEEP.

    The dump is <mode>-<db>-<time>.dump (custom format, one consistent
    snapshot; web keeps serving). With filesystem media the uploads follow
    right after it, as <mode>-<db>-<time>.media.tar (an uncompressed tar of
    the media volume): every file the dump's rows name is in it, unless it
    was deleted in between. With object storage (STORAGE_BACKEND) no media
    is copied: the uploads are in the bucket (protect it with the provider's
    versioning or replication). BACKUP_KEEP counts a dump and its media
    archive as one backup and removes them together, once the new backup is
    complete (a failed media archive removes none). The pre-migrate backup
    of a deploy is the database alone (a migration does not touch uploads);
    it counts too, but the newest backup with a media archive is never
    removed, kept beyond BACKUP_KEEP if need be.
    """
    if args:
        raise UsageError("backup takes no arguments (BACKUP_DIR and BACKUP_KEEP are settings)")
    project.prepare_existing()
    project.require_stack_db("backup")
    project.start_db()
    _backup_with_media(project)
    return 0


def _backup_with_media(project: Project, label: str = "", keep: Path | None = None) -> Path:
    """The database dump, then the media archive of the same stem beside it;
    old backups are pruned only once both are in place (never ``keep``)."""
    database = Database(project)
    dump = database.backup(label)
    Media(project).backup(dump)
    database.prune(keep=keep)
    return dump


def restore(project: Project, args: list[str]) -> int:
    """Replace MODE's database, and its uploads, with a backup FILE after you type its name (--yes: no question); web and the workers are stopped meanwhile.

    The dump is checked first (pg_restore --list), and so is FILE's media
    archive when one is beside it (FILE with .media.tar for .dump: a tar
    archive, its files and bytes read). Then a pre-restore backup (database
    and media; the media alone when the database does not exist) is taken
    and the uploads are extracted into a staging directory in the media
    volume and checked against the archive, all while web serves. Then web
    and the workers stop (a worker after its running tasks), the dump is restored into a new database, checked and swapped in,
    the staged uploads are swapped in for the current ones (renames in the
    volume), and they come back: a restore that fails changes nothing, but
    for that last swap, whose failure says at which step and where each
    tree is. Without a media archive (pre-migrate backups, older ones) the
    uploads are left as they are; with object storage too.
    """
    files: list[str] = []
    assume_yes = False
    for arg in args:
        if arg in ("-y", "--yes"):
            assume_yes = True
        elif arg.startswith("-"):
            raise UsageError(f"unknown option for restore: {arg}")
        elif files:
            raise UsageError(f"restore takes one FILE; got {files[0]} and {arg}")
        else:
            files.append(arg)
    if not files:
        raise UsageError(
            "restore needs a backup FILE, e.g. sh run.sh -0 restore "
            "backups/prod-app-20260101T000000Z.dump"
        )
    archive = project.caller_dir / files[0]
    if not archive.is_file():
        raise Refused(
            f"no such backup file: {archive} (sh run.sh backup writes them to BACKUP_DIR)"
        )
    project.prepare_existing()
    project.require_stack_db("restore")
    project.start_db()
    database, uploads = Database(project), Media(project)
    database.check_archive(archive)
    media_archive = media.archive_path(archive)
    expected, media_note = _media_to_restore(uploads, media_archive)
    if not assume_yes:
        also = f" and every upload with {media_archive}" if expected else ""
        say(
            f"this replaces every row of the {project.current.data} database {database.name} "
            f"with {archive}{also} (a backup of it is taken first)."
        )
        confirm(
            "database name",
            database.name,
            "confirmation did not match; nothing was changed (scripts: --yes)",
        )
    started = time.monotonic()
    try:
        if database.exists(database.name):
            _backup_with_media(project, "pre-restore", keep=archive)
        elif expected is not None:  # never replace the uploads without a copy
            say(
                f"database {database.name} does not exist: the pre-restore backup is the media alone"
            )
            uploads.backup(database.backup_path("pre-restore"))
    except Refused as error:
        raise Refused(f"the pre-restore backup failed, so nothing was restored: {error}") from None
    if expected is not None:
        uploads.stage(media_archive, expected)  # the current media untouched until the swap
    rollout = Rollout(project)
    serving = rollout.serving()  # web, or web-alt after a deploy
    # The workers write to the database and the storage too.
    stopped = [*serving, *rollout.running("worker")]
    services = sorted({c.service for c in stopped})
    if services:
        say(
            f"stopping {', '.join(services)} during the restore (a worker first finishes its tasks)"
        )
        if project.runner.run(project.compose("stop", *services), capture=False).returncode:
            if expected is not None:
                uploads.discard()
            raise Refused(
                f"{', '.join(services)} did not stop (above); the database and media were not changed"
            )
    if not database.restore(archive):
        if expected is not None:
            uploads.discard()
        if stopped:
            project.runner.run(["docker", "start", *(c.id for c in stopped)], quiet=True)
        raise Refused("restore failed (above); the database and media were not changed")
    media_failure = "" if expected is None else uploads.swap()
    if services:
        argv = project.compose.up("--no-deps", "--no-recreate", *services)
        if project.runner.run(argv, capture=False).returncode != 0:
            project.up_failed()
    if media_failure:
        raise Refused(f"the database was restored from {archive}, but {media_failure}")
    say(
        f"restored {archive} into {database.name} in {time.monotonic() - started:.0f} s: "
        f"{database.summary(database.name)}"
    )
    say(media_note)
    return 0


def _media_to_restore(uploads: Media, archive: Path) -> tuple[media.Contents | None, str]:
    """What the media archive holds (None: media is not restored), and the
    line that says what became of the media. A file that is not a tar
    archive is refused here, before anything is touched."""
    if not archive.is_file():
        return None, f"no media archive beside it ({archive.name}): media was left as it is"
    if uploads.backend:
        return None, (
            f"STORAGE_BACKEND={uploads.backend}: uploads are in the bucket; "
            f"{archive.name} was not restored and media was left as it is"
        )
    expected = media.read_archive(archive)
    return expected, f"media: {expected.files} files restored from {archive}"


def releases_command(project: Project, args: list[str]) -> int:
    """List production's releases (web images kept for rollback, RELEASES_KEEP), the one in service marked *."""
    if args:
        raise UsageError("releases takes no arguments")
    project.mode, project.mode_given = PROD, True
    project.prepare_existing()
    deploy = Deploy(project)
    kept, _ = deploy.releases()
    if not kept:
        say("no releases yet: sh run.sh -0 deploys the first")
        return 0
    print("\n".join(releases.lines(kept, deploy.in_service())))
    return 0


def rollback(project: Project, args: list[str]) -> int:
    """Put the previous production release back in service (or RELEASE, from sh run.sh -0 releases), dropping no request.

    The database is left as it is: the previous release runs on the current
    schema (README: Schema changes during deploys).
    """
    if len(args) > 1 or (args and args[0].startswith("-")):
        raise UsageError("rollback takes at most one RELEASE (see sh run.sh -0 releases)")
    project.mode, project.mode_given = PROD, True
    project.prepare()
    deploy = Deploy(project)
    kept, _ = deploy.releases()
    in_service = deploy.in_service()
    if not in_service:
        raise Refused("production is not running: nothing to roll back (sh run.sh -0 starts it)")
    target = releases.rollback_target(kept, in_service, args[0] if args else "")
    say(f"rolling back to release {target.tag}")
    tag = releases.tag_argv(project.settings.project, target.tag, "latest")
    if not project.runner.run(tag, quiet=True).ok:
        raise Refused(f"could not point the web image at release {target.tag} (docker tag failed)")
    Rollout(project).run()
    say(f"release {target.tag} in service")
    return 0


SWARM_ACTIONS = ("deploy", "config", "status", "backup", "rm")


def swarm_command(project: Project, args: list[str]) -> int:
    """Production on the Docker Swarm this node manages: swarm deploy|config|status|backup|rm.

    deploy [--allow-breaking]: what sh run.sh -0 does, on the swarm. It
    builds and tags the release (pushed to SWARM_REGISTRY when set, so that
    every node can pull it), starts db on the node labelled as the stack's
    data node (this one, the first time), runs the migration plan and then
    migrate as Swarm jobs, once per release, with a backup first when
    migrations are pending (a failed migrate restores it), and then rolls out
    web (WEB_REPLICAS) and the workers: each new task must be healthy before an
    old one stops, and a release that never gets healthy is rolled back by
    Swarm. Settings are secrets where they are secret (SECRET_KEY,
    POSTGRES_PASSWORD, ...: Swarm secrets read through NAME_FILE).

    config: print the stack file Swarm gets (JSON; secrets by name only), and
    on stderr each key Swarm would ignore or change and what stands in for it.

    status: the stack's services and replicas. backup: the database, as
    backup does (BACKUP_DIR, BACKUP_KEEP), from its task on this node (the
    data node); uploads belong in object storage on a swarm. rm: remove the
    stack; its volumes stay, and are the ones sh run.sh -0 uses on this node
    (README: Docker Swarm, for a restore).
    """
    if not args or args[0] not in SWARM_ACTIONS:
        raise UsageError(f"swarm takes one of: {', '.join(SWARM_ACTIONS)}")
    action, rest = args[0], args[1:]
    extra = [arg for arg in rest if arg != ALLOW_BREAKING] if action == "deploy" else rest
    if extra:
        raise UsageError(f"unknown option for swarm {action}: {extra[0]}")
    project.mode, project.mode_given = PROD, True
    if action == "deploy":
        project.prepare()
        SwarmDeploy(project, allow_breaking=bool(rest)).run()
        return 0
    project.prepare_existing()
    if action == "status":
        return swarm_deploy.status(project)
    if action == "rm":
        return swarm_deploy.remove(project)
    if action == "backup":
        return swarm_deploy.backup(project)
    return swarm_deploy.config(project)


def doctor_command(project: Project, args: list[str]) -> int:
    """Check the host and the settings for MODE: one line per check, with the fix for each problem."""
    if args:
        raise UsageError("doctor takes no arguments")
    return doctor.run(project)


def install_service(project: Project, args: list[str]) -> int:
    """Print a systemd unit that starts production at boot; --install writes and enables it (as root)."""
    for arg in args:
        if arg != "--install":
            raise UsageError(f"unknown option for install-service: {arg}")
    project.mode, project.mode_given = PROD, True
    return service.install_service(project, install=bool(args))


def test(project: Project, args: list[str]) -> int:
    """Run the tests on the host against the dev database (ARGS go to pytest; -m e2e: end-to-end suite)."""
    project.mode = DEV
    devtools.test(project, args)


def lint(project: Project, args: list[str]) -> int:
    """Lint everything from the host .venv: ruff, mypy, shellcheck, hadolint, compose-lint; any finding fails."""
    if args:
        raise UsageError("lint takes no arguments")
    return devtools.lint(project.root)


def reset(project: Project, args: list[str]) -> int:
    """Delete the DEV database, uploads, pgAdmin and S3 volumes after you type the project name (production data is never touched)."""
    if args:
        raise UsageError("reset takes no arguments")
    project.mode = DEV
    name = project.prepare().project
    project.refuse_mode_switch()
    volumes = tuple(f"{name}_{role}-dev-data" for role in ("db", "media", "pgadmin", "s3"))
    say(
        f"this deletes the volumes {', '.join(volumes)}: every row of the dev database "
        "and every dev upload."
    )
    confirm("project name", name, "confirmation did not match; nothing was deleted")
    if project.runner.run(project.compose.down(), capture=False).returncode:
        raise Refused("docker compose down failed (above); nothing was deleted")
    removed = project.runner.run(compose.remove_volumes(*volumes), quiet=True)
    if not removed.ok and "no such volume" not in removed.stderr.lower():
        raise Refused(f"the volumes were not deleted: {removed.stderr.strip()}")
    say("dev data deleted; sh run.sh -1 starts afresh")
    return 0


def bench(project: Project, args: list[str]) -> int:
    """Measure start, rebuild, image size and HTTP speed in a throwaway copy of the stack (tools/bench/README.md; --quick: a short run)."""
    devtools.bench(project, args)
