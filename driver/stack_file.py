"""Docker Swarm's stack file, made from the Compose files (pure: swarm.py
builds the argv that deploy it, swarm_deploy.py runs them).

``docker stack deploy`` has a loader of its own, older than Compose's: it
rejects what compose.yml needs on one host (``depends_on`` with conditions,
an interpolated ``pids``) and ignores other keys without a word. So the
stack file is Compose's resolved model of compose.yml + compose.swarm.yml
(every default and .env value applied, types resolved), fitted to Swarm by
``build``. ``SWARM_CHANGES`` lists each key Swarm ignores, rejects or
changes, and what stands in for it; ``sh run.sh swarm config`` prints them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

Model = dict[str, Any]

# Settings that go to the containers as Swarm secrets, files in
# /run/secrets read through their NAME_FILE variant (Django's settings and
# the postgres image both take one), never as environment variables.
# .env.example lists them too (a driver test holds the two together).
SECRET_SETTINGS = (
    "SECRET_KEY",
    "POSTGRES_PASSWORD",
    "DATABASE_URL",
    "DJANGO_SUPERUSER_PASSWORD",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "BACKUP_S3_SECRET_ACCESS_KEY",
    "EMAIL_URL",
    "EMAIL_PASSWORD",
)
SECRETS_DIR = "/run/secrets"
SECRETS, NAMES = "environment secrets", "name"
# Swarm's limit on the name of a secret or a config.
NAME_MAX = 64
# The data node's placement constraint, as compose.swarm.yml gives it to db.
DATA_CONSTRAINT = re.compile(r"^node\.labels\.(\S+)\s*==\s*true$")


def data_constraint(model: Model) -> str:
    """db's placement (compose.swarm.yml): the node that holds the volumes."""
    placement = model["services"]["db"].get("deploy", {}).get("placement", {})
    for constraint in placement.get("constraints", []):
        if DATA_CONSTRAINT.match(constraint):
            return str(constraint)
    raise ValueError("compose.swarm.yml places db on no node label (node.labels.NAME == true)")


def data_label(model: Model) -> str:
    """The node label of the data node, NAME of node.labels.NAME == true."""
    match = DATA_CONSTRAINT.match(data_constraint(model))
    assert match is not None
    return match[1]


def built_services(model: Model) -> list[str]:
    """The services on web's image: the release runs in them, and they write
    uploads to the media volume. (db and backup are built too, on an image
    of their own that stays on the data node.)"""
    web = model["services"]["web"].get("image")
    return [name for name, service in model["services"].items() if service.get("image") == web]


def rolling_services(model: Model) -> list[str]:
    """The services Swarm rolls back by itself when an update fails."""
    return [
        name
        for name, service in model["services"].items()
        if service.get("deploy", {}).get("update_config", {}).get("failure_action") == "rollback"
    ]


def web_stop_grace(environment: dict[str, str]) -> str:
    """web's stop grace period: the drain (WEB_STOP_DRAIN), then gunicorn's
    graceful stop (GUNICORN_GRACEFUL_TIMEOUT), and 5 s to exit."""
    seconds = 5
    for setting in ("WEB_STOP_DRAIN", "GUNICORN_GRACEFUL_TIMEOUT"):
        value = environment.get(setting, "") or "0"
        if not value.isdigit():
            raise ValueError(f"{setting} must be a whole number of seconds, got {value!r}")
        seconds += int(value)
    return f"{seconds}s"


@dataclass(frozen=True)
class Change:
    """What Swarm does with a key of the Compose files, and what stands in."""

    swarm: str
    instead: str


SWARM_CHANGES: dict[str, Change] = {
    "build": Change(
        "ignored: Swarm runs images, it builds none",
        "run.sh builds the image and tags it per release (<project>-web:<UTC time>); with "
        "SWARM_REGISTRY it pushes it there for the other nodes",
    ),
    "depends_on": Change(
        "rejected in its long form (conditions); a no-op in Swarm",
        "run.sh starts db and waits for it, runs migrate as a job and waits for it, "
        "then rolls out web and the workers; each waits for the database itself "
        "(DB_WAIT_TIMEOUT)",
    ),
    "restart": Change(
        "ignored (restart: no would become restart always)",
        "deploy.restart_policy (compose.swarm.yml); migrate is a job that never restarts",
    ),
    "security_opt": Change(
        "ignored: no-new-privileges is not applied",
        "capabilities stay dropped (cap_drop ALL is applied), web's image has no "
        "setuid or setgid program (docker/Dockerfile) and runs as its own user",
    ),
    "tmpfs": Change(
        "ignored without a word: a read-only container would have no writable /tmp",
        "the same tmpfs, as a mount of type tmpfs with its size",
    ),
    "ports.host_ip": Change(
        "rejected: a Swarm port listens on every address (PROXY_BIND_ADDRESS)",
        "keep other addresses out with the host's firewall",
    ),
    "ports.mode": Change(
        "ingress mode by default: a virtual IP on every node, which needs IPVS",
        "host mode: the port is the proxy's, on the node it runs on (the data node)",
    ),
    "environment secrets": Change(
        "would be plain environment variables in the service's spec",
        f"Swarm secrets, mounted in {SECRETS_DIR} and read through NAME_FILE",
    ),
    "name": Change(
        "the project's names (Compose) instead of the stack's",
        "the stack's names, <stack>_<name>: the same volumes as sh run.sh -0's",
    ),
}


@dataclass(frozen=True)
class Secret:
    setting: str  # SECRET_KEY, ...
    name: str  # the Swarm secret's name, after its value
    value: str


def object_name(stack: str, what: str, digest: str) -> str:
    """``<stack>_<what>_<digest>``, shortened to Swarm's limit; the digest
    (of the stack's full name too) keeps it unique."""
    name = f"{stack}_{what}_{digest}"
    if len(name) > NAME_MAX:
        room = NAME_MAX - len(digest) - 2
        name = f"{stack[: room // 2]}_{what[: room - room // 2]}_{digest}"
    return name


def secret_name(stack: str, setting: str, value: str, key: str) -> str:
    """A secret never changes in Swarm: a new value is a new secret. The name
    is public (docker secret ls): its digest is keyed with SECRET_KEY, so it
    tells nothing of a guessable value."""
    message = f"{stack}\0{setting}\0{value}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:12]
    return object_name(stack, setting.lower(), digest)


def config_name(stack: str, key: str, content: bytes) -> str:
    """A config never changes in Swarm either: named after its content."""
    digest = hashlib.sha256(stack.encode() + b"\0" + content).hexdigest()[:12]
    return object_name(stack, key, digest)


def tmpfs_mount(spec: str) -> dict[str, Any]:
    """``/tmp:size=64m`` as a long-syntax mount Swarm applies."""
    target, _, options = spec.partition(":")
    mount: dict[str, Any] = {"type": "tmpfs", "target": target}
    for option in options.split(",") if options else []:
        key, _, value = option.partition("=")
        if key == "size":
            mount["tmpfs"] = {"size": byte_count(value)}
    return mount


def byte_count(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    size = size.strip().lower().rstrip("b")
    if size and size[-1] in units:
        return int(size[:-1]) * units[size[-1]]
    return int(size)


def build(
    model: Model,
    stack: str,
    image: str,
    contents: dict[str, bytes],
    pin_to_data_node: bool = False,
) -> tuple[Model, list[Secret], dict[str, list[str]]]:
    """The stack file from Compose's resolved model (``docker compose config
    --format json`` of the Swarm files), the secrets it uses, and the keys of
    ``SWARM_CHANGES`` it changed, each with the services it changed them on.
    ``image``: the release, for the services on web's image (Swarm updates a
    service when its image's name changes). ``contents``: each config's file. ``pin_to_data_node``: uploads in the
    media volume (STORAGE_BACKEND=filesystem), which is local to the data
    node: the services on web's image run there too."""
    built = built_services(model)
    pin = data_constraint(model) if pin_to_data_node else ""
    key = next((env["SECRET_KEY"] for env in environments(model) if env.get("SECRET_KEY")), stack)
    model = copy.deepcopy(model)
    changes: dict[str, list[str]] = {}
    model.pop("name", None)
    # The x- blocks (x-django-env, ...) are Compose's anchors, already merged
    # into the services: copies that would carry the secrets in the clear.
    for name in [name for name in model if name.startswith("x-")]:
        del model[name]
    for section in ("volumes", "networks", "configs"):
        for name, value in (model.get(section) or {}).items():
            if isinstance(value, dict) and value.pop("name", None) is not None:
                changes.setdefault(NAMES, []).append(f"{section}.{name}")
    for name, config in (model.get("configs") or {}).items():
        config["name"] = config_name(stack, name, contents[name])
    secrets: dict[str, Secret] = {}
    for name, service in model.get("services", {}).items():
        if name in built:
            service["image"] = image
            if pin:
                placement = service.setdefault("deploy", {}).setdefault("placement", {})
                placement.setdefault("constraints", []).append(pin)
        if "WEB_STOP_DRAIN" in (service.get("environment") or {}):
            service["stop_grace_period"] = web_stop_grace(service["environment"])
        changed = fit_service(service)
        moved = move_secrets(service, stack, key)
        if moved:
            changed.append(SECRETS)
        for change in changed:
            changes.setdefault(change, []).append(name)
        for secret in moved:
            secrets[secret.name] = secret
    if secrets:
        model["secrets"] = {
            secret.name: {"external": True, "name": secret.name} for secret in secrets.values()
        }
    return model, sorted(secrets.values(), key=lambda s: s.name), changes


def environments(model: Model) -> list[dict[str, str]]:
    return [service.get("environment") or {} for service in model["services"].values()]


def change_lines(changes: dict[str, list[str]]) -> list[str]:
    """What ``build`` changed, one line per key: where, what Swarm does
    with it, and what stands in for it."""
    lines = []
    for key, change in SWARM_CHANGES.items():
        if key in changes:
            where = ", ".join(changes[key])
            lines.append(f"{key} ({where}): Swarm: {change.swarm}; instead: {change.instead}")
    return lines


def fit_service(service: dict[str, Any]) -> list[str]:
    """Fit one service to Swarm's loader, in place; what changed, by key."""
    changed = []
    for key in ("build", "depends_on", "restart", "security_opt"):
        if service.pop(key, None) is not None:
            changed.append(key)
    for key in [key for key, value in service.items() if value is None]:
        del service[key]  # entrypoint: null, command: null (the image's own)
    if "tmpfs" in service:
        tmpfs = service.pop("tmpfs")
        service["volumes"] = [*service.get("volumes", []), *map(tmpfs_mount, tmpfs)]
        changed.append("tmpfs")
    for port in service.get("ports", []):
        if port.pop("host_ip", None) is not None:
            changed.append("ports.host_ip")
        if port.get("mode") != "host":
            port["mode"] = "host"
            changed.append("ports.mode")
        if "published" in port:
            port["published"] = int(port["published"])
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    if "cpus" in limits:
        limits["cpus"] = str(limits["cpus"])  # Swarm's schema wants a string
    return sorted(set(changed))


def move_secrets(service: dict[str, Any], stack: str, key: str) -> list[Secret]:
    """Each set secret setting of the service's environment becomes a Swarm
    secret, read through NAME_FILE."""
    environment = service.get("environment") or {}
    moved = []
    for setting in SECRET_SETTINGS:
        value = environment.get(setting)
        if not value:
            continue
        secret = Secret(setting, secret_name(stack, setting, value, key), value)
        del environment[setting]
        environment[f"{setting}_FILE"] = f"{SECRETS_DIR}/{setting}"
        service.setdefault("secrets", []).append({"source": secret.name, "target": setting})
        moved.append(secret)
    return moved


def one_service(
    model: Model, service: str, command: list[str] | None = None, name: str = ""
) -> Model:
    """A stack file of one service of ``model`` (db; migrate, or the plan on
    its spec, as ``name`` with ``command``): deployed alone, it leaves the
    stack's other services as they are."""
    spec = copy.deepcopy(model["services"][service])
    if command is not None:
        spec["command"] = command
    used = {entry["source"] for entry in spec.get("secrets", [])}
    partial: Model = {"services": {name or service: spec}}
    for section in ("networks", "volumes"):
        if section in model:
            partial[section] = model[section]
    if used:
        partial["secrets"] = {key: model["secrets"][key] for key in sorted(used)}
    return partial


def without(model: Model, service: str) -> Model:
    """``model`` less one service: deployed, it leaves that one as it is (the
    migrate job: updating it through the whole file would run it again,
    since Swarm fills in an updated spec's defaults)."""
    rest = copy.deepcopy(model)
    del rest["services"][service]
    return rest
