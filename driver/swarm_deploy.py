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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from driver import compose, stack_file, swarm
from driver.console import Refused, say
from driver.database import Database
from driver.deploy import ALLOW_BREAKING, BUILT, Deploy, plan_action, production_lines
from driver.modes import SWARM_FILES, with_override
from driver.project import Project
from driver.runner import TIMED_OUT
from driver.settings import FILESYSTEM

DB_WAIT, JOB_WAIT, STOP_WAIT, ROLLOUT_WAIT = 120, 900, 180, 900  # seconds


class Stack:
    """The project's Swarm stack, named after the Compose project."""

    def __init__(self, project: Project):
        self.project = project
        self.runner = project.runner
        self.name = project.settings.project

    # -- the stack file -----------------------------------------------------------

    def model(self) -> stack_file.Model:
        """Compose's resolved model of the Swarm files (and this machine's
        compose.override.yml, as every mode has it)."""
        files = with_override(SWARM_FILES, self.project.root)
        env_file = self.project.env_file if self.project.env_file.is_file() else None
        done = self.runner.run(compose.Compose(tuple(files), env_file).config(), quiet=True)
        if not done.ok:
            raise Refused(f"the Swarm files do not load: {done.stderr.strip() or done.stdout}")
        model: stack_file.Model = json.loads(done.stdout)
        return model

    def render(
        self, model: stack_file.Model, image: str
    ) -> tuple[stack_file.Model, list[stack_file.Secret], dict[str, list[str]]]:
        """The stack file of ``model`` (``model()``) with the release ``image``."""
        contents = {
            key: Path(config["file"]).read_bytes()
            for key, config in (model.get("configs") or {}).items()
        }
        pin = self.project.settings.storage_backend == FILESYSTEM
        try:
            return stack_file.build(model, self.name, image, contents, pin_to_data_node=pin)
        except ValueError as error:
            raise Refused(str(error)) from None

    @contextmanager
    def file(self, model: stack_file.Model) -> Iterator[str]:
        """The stack file on disk for ``docker stack deploy``, readable by
        this user alone (it names secrets, holds none), removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="run-sh-swarm-") as folder:
            path = Path(folder) / "stack.json"
            path.write_text(json.dumps(model, indent=2))
            yield str(path)

    def deploy(self, model: stack_file.Model, *, wait: bool) -> bool:
        """Deploy ``model``; ``wait``: until Swarm has converged (a service
        that never can, a task no node takes, is given up after ROLLOUT_WAIT)."""
        registry = bool(self.project.settings.driver.get("swarm_registry", ""))
        with self.file(model) as path:
            argv = swarm.deploy_argv(self.name, path, wait=wait, registry=registry)
            done = self.runner.run(argv, capture=False, timeout=ROLLOUT_WAIT if wait else None)
        if done.returncode == TIMED_OUT:
            raise Refused(
                f"the swarm has not converged after {ROLLOUT_WAIT} s (sh run.sh swarm status; "
                f"docker service ps {self.name}_SERVICE says which task waits, and why)"
            )
        return done.ok

    # -- the swarm ------------------------------------------------------------------

    def require_manager(self) -> str:
        """This node's id, when it manages a swarm."""
        state = self.runner.run(swarm.node_state_argv(), quiet=True).stdout
        problem = swarm.swarm_problem(state)
        if problem:
            raise Refused(problem)
        return state.split()[2]

    def ensure_data_node(self, node_id: str, label: str) -> None:
        """db, proxy and media run on the node labelled for this stack (their
        volumes are local): this node, unless another was labelled, where
        the deploy must then run (it reaches the database there)."""
        nodes = self.runner.run(swarm.data_nodes_argv(label), quiet=True).stdout.split()
        if node_id in nodes:
            return
        if nodes:
            raise Refused(
                f"the stack's data node (node label {label}=true) is {nodes[0]}, not this node: "
                "run sh run.sh swarm there, where its database and volumes are"
            )
        if not self.runner.run(swarm.label_node_argv(label, node_id), quiet=True).ok:
            raise Refused("could not label this node as the stack's data node (docker node update)")
        say(f"this node holds the stack's volumes from now on (node label {label}=true)")

    def ensure_secrets(self, secrets: list[stack_file.Secret]) -> None:
        for secret in secrets:
            if self.runner.run(swarm.secret_exists_argv(secret.name), quiet=True).ok:
                continue
            with tempfile.TemporaryDirectory(prefix="run-sh-secret-") as folder:
                value = Path(folder) / "value"
                value.write_text(secret.value)
                argv = swarm.secret_create_argv(secret.name, self.name)
                if not self.runner.run(argv, quiet=True, stdin=value).ok:
                    raise Refused(f"could not create the Swarm secret for {secret.setting}")

    def running_here(self) -> bool:
        """Does a container of the stack run on this node?"""
        listing = self.runner.run(swarm.stack_containers_argv(self.name), quiet=True).stdout
        return bool(listing.strip())

    # -- tasks ----------------------------------------------------------------------

    def task_states(self, service: str) -> list[swarm.TaskState]:
        ids = self.runner.run(swarm.tasks_argv(self.name, service), quiet=True).stdout.split()
        if not ids:
            return []
        done = self.runner.run(swarm.task_states_argv(ids), quiet=True)
        return swarm.parse_task_states(done.stdout) if done.ok else []

    def wait_job(self, service: str) -> swarm.TaskState:
        """The job's one task, once it has ended."""
        deadline = time.monotonic() + JOB_WAIT
        while time.monotonic() < deadline:
            states = self.task_states(service)
            if states and states[0].done:
                return states[0]
            time.sleep(1)
        raise Refused(
            f"the {service} job has not ended after {JOB_WAIT} s and goes on (docker service "
            f"logs -f {swarm.service_name(self.name, service)}); deploy again once it has ended"
        )

    def run_job(self, model: stack_file.Model, service: str, command: list[str]) -> swarm.TaskState:
        """``command`` as a job of its own, once (a job runs again only when
        its spec changes): the one left from before is removed first, never
        while it runs."""
        states = self.task_states(service)
        if states and not states[0].done:
            raise Refused(
                f"a {service} job of an earlier deploy is still {states[0].state} (docker service "
                f"logs -f {swarm.service_name(self.name, service)}): deploy again once it has ended"
            )
        self.runner.run(swarm.remove_service_argv(self.name, service), quiet=True)
        if not self.deploy(
            stack_file.one_service(model, "migrate", command, name=service), wait=False
        ):
            raise Refused(f"could not start the {service} job (docker stack deploy, above)")
        return self.wait_job(service)

    def job_output(self, service: str) -> tuple[str, str]:
        """The job's standard output, and its standard error."""
        done = self.runner.run(swarm.job_logs_argv(self.name, service), quiet=True)
        return done.stdout, done.stderr

    def db_container(self) -> str:
        """The db task's container on this node, once it is healthy."""
        deadline = time.monotonic() + DB_WAIT
        while time.monotonic() < deadline:
            ids = self.runner.run(swarm.db_container_argv(self.name), quiet=True).stdout.split()
            if ids:
                health = self.runner.run(swarm.health_argv(ids[0]), quiet=True).stdout.strip()
                if health == "healthy":
                    return ids[0]
            time.sleep(1)
        raise Refused(
            f"the database did not become healthy on this node within {DB_WAIT} s "
            f"(docker service ps {swarm.service_name(self.name, 'db')}; docker service logs ...)"
        )


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
