"""The production stack as Docker Swarm holds it (swarm_deploy.py sequences
the deploy with it): its model from Compose, the stack file and the deploy
of it, the data node, the secrets, the jobs and their states, and db's task
container."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from driver import compose, stack_file, swarm
from driver.console import Refused, say
from driver.modes import SWARM_FILES, with_override
from driver.project import Project
from driver.runner import TIMED_OUT
from driver.settings import FILESYSTEM

DB_WAIT, JOB_WAIT, ROLLOUT_WAIT = 120, 900, 900  # seconds


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
