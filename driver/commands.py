"""The commands of ``sh run.sh``: one function each, whose docstring is its
help (the first line in ``sh run.sh help``, all of it in ``help COMMAND``).

Each takes the project and the words after the command, checks them, and
returns the exit status. They only sequence the steps the other modules
build and run.
"""

from __future__ import annotations

from driver import compose, devtools, doctor, schedule, service
from driver.console import Refused, UsageError, confirm, say
from driver.deploy import ALLOW_BREAKING, Deploy, last_scheduled, print_urls, start_dev
from driver.modes import DEV, PROD
from driver.pitr import Pitr
from driver.project import Project


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
    """List the stack's containers with their health (alias: status), and in production how WAL archiving, the last scheduled backup and the WAL archive's copy in the bucket go."""
    project.prepare_existing()
    status = project.runner.attach(project.compose("--profile", "*", "ps", "--all", *args))
    if project.current.is_prod:
        if project.running("db"):
            found = Pitr(project).archiver()
            if found is not None:
                say(found[1])
        for line in schedule.status_lines(last_scheduled(project)):
            say(line)
    return status


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
    """Delete the DEV database (and its WAL archive), uploads, pgAdmin and S3 volumes after you type the project name (production data is never touched)."""
    if args:
        raise UsageError("reset takes no arguments")
    project.mode = DEV
    name = project.prepare().project
    project.refuse_mode_switch()
    volumes = (
        *(f"{name}_{role}-dev-data" for role in ("db", "media", "pgadmin", "s3")),
        f"{name}_db-dev-wal",
    )
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
