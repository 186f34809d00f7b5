"""The commands on production's releases: ``releases``, ``rollback``, and
``swarm`` (production on Docker Swarm). Each is one function whose
docstring is its help, as in commands.py."""

from __future__ import annotations

from driver import releases, swarm_deploy
from driver.console import Refused, UsageError, say
from driver.deploy import ALLOW_BREAKING, Deploy
from driver.modes import PROD
from driver.project import Project
from driver.rollout import Rollout
from driver.swarm_deploy import SwarmDeploy


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
