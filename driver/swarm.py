"""Docker Swarm: the argv of ``docker stack``, ``service``, ``secret`` and
``node`` that deploy the stack file (stack_file.py), and what their output
says. Pure: nothing here runs anything (swarm_deploy.py does).
"""

from __future__ import annotations

from dataclasses import dataclass

from driver.compose import QUIET_NOTICES, psql
from driver.runner import Argv


def node_state_argv() -> Argv:
    return [
        "docker", "info", "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}",
    ]  # fmt: skip


def swarm_problem(state: str) -> str | None:
    """Why this node cannot deploy (``node_state_argv``'s fields), or None."""
    fields = state.split()
    if not fields or fields[0] != "active":
        return (
            "this Docker is in no swarm: create one with docker swarm init "
            "(or join one as a manager), then run this again (README: Docker Swarm)"
        )
    if fields[1:2] != ["true"]:
        return "this node is a swarm worker: run sh run.sh swarm deploy on a manager"
    return None


def image_problem(nodes: int, registry: str, pinned: bool) -> str | None:
    """Why the release's image would be missing on some node, or None: with
    more than one node, web's image must come from SWARM_REGISTRY unless
    its services are pinned to the data node (uploads in its volume)."""
    if nodes > 1 and not registry and not pinned:
        return (
            f"the swarm has {nodes} nodes and SWARM_REGISTRY is empty: web's image is on this "
            "node only. Set SWARM_REGISTRY to a registry every node can pull from "
            "(.env.example, Docker Swarm)"
        )
    return None


# Swarm's tasks of web's image carry the image's Compose labels too (Compose
# builds it): a task is told by its Swarm label.
TASK_LABEL_FORMAT = '{{.Label "com.docker.swarm.task.id"}}'


def compose_containers(listing: str) -> int:
    """How many of the project's running containers are Compose's, not the
    swarm's (``TASK_LABEL_FORMAT``, one line each)."""
    return sum(1 for line in listing.splitlines() if not line.strip())


def label_node_argv(label: str, node_id: str) -> Argv:
    return ["docker", "node", "update", "--label-add", f"{label}=true", node_id]


def data_nodes_argv(label: str) -> Argv:
    return ["docker", "node", "ls", "--format", "{{.ID}}", "--filter", f"node.label={label}=true"]


def node_count_argv() -> Argv:
    return ["docker", "node", "ls", "--quiet"]


def secret_exists_argv(name: str) -> Argv:
    return ["docker", "secret", "inspect", "--format", "{{.ID}}", name]


def secret_create_argv(name: str, stack: str) -> Argv:
    """The value comes on stdin: it never appears in a command line."""
    label = f"com.docker.stack.namespace={stack}"
    return ["docker", "secret", "create", "--label", label, name, "-"]


def deploy_argv(stack: str, file: str, *, wait: bool, registry: bool = False) -> Argv:
    """``--resolve-image never``: run the local (or pushed) tag as it is.
    ``registry``: pass this login on, so that every node may pull."""
    options = ["--detach=false", "--quiet"] if wait else ["--detach=true"]
    if registry:
        options.append("--with-registry-auth")
    return ["docker", "stack", "deploy", "--resolve-image", "never", "-c", file, *options, stack]


def service_name(stack: str, service: str) -> str:
    return f"{stack}_{service}"


def tasks_argv(stack: str, service: str) -> Argv:
    return ["docker", "service", "ps", "--quiet", "--no-trunc", service_name(stack, service)]


# A task that never got a container (no node fits, no image) has no
# ContainerStatus.
TASK_FORMAT = (
    "{{.Status.State}}\t"
    "{{if .Status.ContainerStatus}}{{.Status.ContainerStatus.ExitCode}}{{end}}\t"
    "{{.Status.Err}}"
)


def task_states_argv(task_ids: list[str]) -> Argv:
    return ["docker", "inspect", "--format", TASK_FORMAT, *task_ids]


FINAL_STATES = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")


@dataclass(frozen=True)
class TaskState:
    state: str
    exit_code: int
    error: str

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def ran(self) -> bool:
        """Its command started (a rejected task never had a container)."""
        return self.exit_code >= 0 or self.state == "complete"


def parse_task_states(output: str) -> list[TaskState]:
    states = []
    for line in output.splitlines():
        state, _, rest = line.partition("\t")
        code, _, error = rest.partition("\t")
        try:
            number = int(code)
        except ValueError:
            number = -1
        states.append(TaskState(state.strip(), number, error.strip()))
    return states


def remove_service_argv(stack: str, service: str) -> Argv:
    return ["docker", "service", "rm", service_name(stack, service)]


def service_image_argv(stack: str, service: str) -> Argv:
    return [
        "docker", "service", "inspect", "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}", service_name(stack, service),
    ]  # fmt: skip


def job_logs_argv(stack: str, service: str) -> Argv:
    return ["docker", "service", "logs", "--raw", service_name(stack, service)]


def update_state_argv(stack: str, service: str) -> Argv:
    return [
        "docker", "service", "inspect", "--format",
        "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", service_name(stack, service),
    ]  # fmt: skip


def update_failed(update_state: str) -> bool:
    """A service's update state (``update_state_argv``) after a deploy that
    waited: none (created) and completed are fine; rolled back or paused not."""
    return update_state.strip() not in ("", "completed")


def stack_containers_argv(stack: str) -> Argv:
    """The stack's running task containers on this node."""
    return ["docker", "ps", "--quiet", "--filter", f"label=com.docker.stack.namespace={stack}"]


def db_container_argv(stack: str) -> Argv:
    """The running db task's container on this node (the data node)."""
    return [
        "docker", "ps", "--quiet", "--filter", "status=running",
        "--filter", f"label=com.docker.swarm.service.name={service_name(stack, 'db')}",
    ]  # fmt: skip


@dataclass(frozen=True)
class TaskContainer:
    """``docker exec`` into one task's container, with the two methods of
    compose.Compose that Database uses (backups and restores on Swarm)."""

    container: str

    def exec(self, service: str, *args: str, tty: bool = False, env: tuple[str, ...] = ()) -> Argv:
        options = ["-it"] if tty else ["-i"]
        for name in env:
            options += ["-e", name]
        return ["docker", "exec", *options, self.container, *args]

    def sql(self, user: str, database: str, *statements: str) -> Argv:
        return self.exec("db", "env", QUIET_NOTICES, *psql(user, database, *statements))


def health_argv(container: str) -> Argv:
    return ["docker", "inspect", "--format", "{{.State.Health.Status}}", container]


def services_argv(stack: str) -> Argv:
    return ["docker", "stack", "services", stack]


def remove_stack_argv(stack: str) -> Argv:
    return ["docker", "stack", "rm", stack]


def push_argv(image: str) -> Argv:
    return ["docker", "push", image]


def tag_argv(source: str, target: str) -> Argv:
    return ["docker", "tag", source, target]


def registry_image(registry: str, image: str) -> str:
    """``<project>-web:<release>`` in SWARM_REGISTRY (host[:port][/path])."""
    return f"{registry.rstrip('/')}/{image}" if registry else image
