"""``sh run.sh swarm``: the production stack on the Docker Swarm this node
manages, deployed as one host's is: build, tag the release, plan, back up,
migrate under the lock, then roll out, and never lose data.

Swarm does the rolling update itself (compose.swarm.yml): each new web task
must be healthy before an old one stops, and an update whose tasks never get
healthy is rolled back by Swarm. What Swarm cannot order, this module does:
db first, then the plan and migrate as jobs (each waited for), then the rest.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import NoReturn

from driver import compose, stack_file, swarm
from driver.console import Refused, say
from driver.database import Database
from driver.deploy import ALLOW_BREAKING, BUILT, Deploy, plan_action, production_lines
from driver.project import Project
from driver.settings import FILESYSTEM
from driver.swarm_stack import Stack

STOP_WAIT = 180  # seconds


class SwarmDeploy:
    def __init__(self, project: Project, allow_breaking: bool = False):
        self.project = project
        self.runner = project.runner
        self.stack = Stack(project)
        self.allow_breaking = allow_breaking

    def run(self) -> None:
        stack = self.stack
        node_id = stack.require_manager()
        self.refuse_compose_stack()
        self.refuse_missing_image()
        model = stack.model()
        try:
            label = stack_file.data_label(model)
        except ValueError as error:
            raise Refused(str(error)) from None
        stack.ensure_data_node(node_id, label)
        one_host = Deploy(self.project)
        if self.runner.run(self.project.compose("build", *BUILT), capture=False).returncode != 0:
            raise Refused("an image did not build (output above)")
        release = one_host.tag_release()
        image = self.publish(f"{stack.name}-web:{release}")
        model, secrets, _ = stack.render(model, image)
        stack.ensure_secrets(secrets)
        if not stack.deploy(stack_file.one_service(model, "db"), wait=True):
            raise Refused("could not deploy the database service (above)")
        database = Database(self.project, swarm.TaskContainer(stack.db_container()))
        self.migrate(model, database, image)
        say(f"rolling out release {release} ({image})")
        if not stack.deploy(stack_file.without(model, "migrate"), wait=True):
            raise Refused(
                f"docker stack deploy failed (above): release {release} is migrated but may "
                "not be rolled out everywhere (sh run.sh swarm status)"
            )
        self.require_rolled_out(model, release)
        say(f"release {release} in service on the swarm (sh run.sh swarm status)")
        one_host.prune_releases()
        for line in production_lines(self.project.settings):
            say(line)

    def require_rolled_out(self, model: stack_file.Model, release: str) -> None:
        """Each service Swarm may roll back was updated, or is refused."""
        for service in stack_file.rolling_services(model):
            argv = swarm.update_state_argv(self.stack.name, service)
            state = self.runner.run(argv, quiet=True).stdout.strip()
            if swarm.update_failed(state):
                raise Refused(
                    f"release {release}: {service}'s update ended {state}: its new tasks never "
                    "became healthy, so Swarm rolled it back to the previous release, which "
                    "serves on the new release's schema (its migrations stay applied) "
                    f"(docker service ps {swarm.service_name(self.stack.name, service)})"
                )

    def refuse_compose_stack(self) -> None:
        """sh run.sh -0's containers use the same volumes: one at a time."""
        argv = compose.project_containers(
            self.stack.name, all_states=False, format=swarm.TASK_LABEL_FORMAT
        )
        if swarm.compose_containers(self.runner.run(argv, quiet=True).stdout):
            raise Refused(
                f"this host runs the {self.stack.name} stack with Compose (sh run.sh -0): "
                "stop it first with sh run.sh -0 down; the swarm stack takes over its volumes"
            )

    def refuse_missing_image(self) -> None:
        nodes = len(self.runner.run(swarm.node_count_argv(), quiet=True).stdout.split())
        settings = self.project.settings
        problem = swarm.image_problem(
            nodes,
            settings.driver.get("swarm_registry", ""),
            pinned=settings.storage_backend == FILESYSTEM,
        )
        if problem:
            raise Refused(problem)

    def publish(self, image: str) -> str:
        """The release's image name for the swarm: as built, or pushed to
        SWARM_REGISTRY so that every node can pull it."""
        registry = self.project.settings.driver.get("swarm_registry", "")
        if not registry:
            return image
        target = swarm.registry_image(registry, image)
        if not self.runner.run(swarm.tag_argv(image, target), quiet=True).ok:
            raise Refused(f"could not tag {image} as {target}")
        if not self.runner.run(swarm.push_argv(target), capture=False).ok:
            raise Refused(f"could not push {target} (SWARM_REGISTRY={registry}; docker login?)")
        return target

    def migrate(self, model: stack_file.Model, database: Database, image: str) -> None:
        """The plan as a job (the gate, the breaking-change guard), a backup
        when migrations are pending, then migrate as a job, once per release."""
        stack = self.stack
        done = self.runner.run(swarm.service_image_argv(stack.name, "migrate"), quiet=True)
        states = stack.task_states("migrate")
        if done.stdout.strip() == image and states and states[0].state == "complete":
            say("migrations of this release already applied (its migrate job completed)")
            return
        flags = [ALLOW_BREAKING] if self.allow_breaking else []
        plan = stack.run_job(model, "plan", ["plan", *flags])
        output, errors = stack.job_output("plan")
        self.runner.run(swarm.remove_service_argv(stack.name, "plan"), quiet=True)
        action = plan_action(plan.exit_code) if plan.ran else "unknown"
        if action in ("gate", "breaking", "unknown"):
            print((output + errors).rstrip(), file=sys.stderr)
            reason = f"{plan.state}, exit {plan.exit_code}" if plan.ran else plan.error
            raise Refused(
                f"deploy refused by the migration plan ({reason}; output above; "
                f"{ALLOW_BREAKING} accepts breaking migrations); nothing was changed"
            )
        pre_migrate = None
        if action == "migrate":
            say("pending migrations: " + " ".join(output.split()))
            if not self.project.settings.database_url:
                pre_migrate = database.backup("pre-migrate")
                database.prune()
        started = time.monotonic()
        command = list(model["services"]["migrate"]["command"])
        try:
            result = stack.run_job(model, "migrate", command)
        except Refused as error:
            kept = f"; the backup taken before it: {pre_migrate}" if pre_migrate else ""
            raise Refused(f"{error}{kept}") from None
        if result.state == "complete":
            say(f"migrate job done in {time.monotonic() - started:.0f} s")
            return
        if not result.ran:
            raise Refused(
                f"DEPLOY FAILED: the migrate job never started ({result.error}); the database "
                "was not migrated, and nothing was rolled out"
            )
        print("".join(stack.job_output("migrate")).rstrip(), file=sys.stderr)
        self.rollback(database, pre_migrate)

    def rollback(self, database: Database, pre_migrate: Path | None) -> NoReturn:
        """A migrate failed: keep what it left, put the backup back."""
        if pre_migrate is None:
            raise Refused("DEPLOY FAILED: the migrate job failed (its output is above)")
        try:
            failed = database.backup("failed-migrate")
        except Refused:
            at_failure = "could not be saved"
        else:
            at_failure = f"is in {failed}"
            database.prune(keep=pre_migrate)
        restored = database.restore(pre_migrate)
        raise Refused(
            "DEPLOY FAILED: the migrate job failed (above), so nothing was rolled out; "
            + (
                f"the database was restored from {pre_migrate}"
                if restored
                else f"the automatic restore failed too: sh run.sh -0 restore {pre_migrate}"
            )
            + f". The database as the failed migration left it {at_failure}."
        )


def config(project: Project) -> int:
    """The stack file for the release in service (or the newest, or
    :latest), on stdout; what Swarm changes, on stderr."""
    stack = Stack(project)
    serving = project.runner.run(swarm.service_image_argv(stack.name, "web"), quiet=True)
    kept, _ = Deploy(project).releases()
    newest = f"{stack.name}-web:{kept[-1].tag if kept else 'latest'}"
    image = serving.stdout.strip() if serving.ok and serving.stdout.strip() else newest
    model, _, changes = stack.render(stack.model(), image)
    for line in stack_file.change_lines(changes):
        say(line)
    print(json.dumps(model, indent=2))
    return 0


def backup(project: Project) -> int:
    """The database's backup, taken in its running task's container."""
    project.require_stack_db("swarm backup")
    stack = Stack(project)
    database = Database(project, swarm.TaskContainer(stack.db_container()))
    database.backup()
    database.prune()
    if project.settings.storage_backend == FILESYSTEM:
        say(
            f"the uploads are not in it: they are in the volume {stack.name}_media-prod-data "
            "on the data node (README: Docker Swarm, Backups)"
        )
    return 0


def status(project: Project) -> int:
    return project.runner.attach(swarm.services_argv(project.settings.project))


def remove(project: Project) -> int:
    """Remove the stack and wait until its containers here have stopped
    (the workers finish their tasks first), so that its volumes are free."""
    stack = Stack(project)
    code = project.runner.attach(swarm.remove_stack_argv(stack.name))
    if code != 0:
        return code
    deadline = time.monotonic() + STOP_WAIT
    while stack.running_here():
        if time.monotonic() > deadline:
            raise Refused(
                f"stack {stack.name} removed, but its containers still run here after "
                f"{STOP_WAIT} s (docker ps): wait for them before sh run.sh -0"
            )
        time.sleep(1)
    say(f"stack {stack.name} removed; its volumes stay (docker volume ls)")
    return 0
