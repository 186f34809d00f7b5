"""The Kubernetes manifests agree with compose.yml (kube.drifts), and the
comparison sees a drift on either side."""

import copy

import pytest

import kube

COMPOSE_TEXT = (kube.REPO_DIR / "compose.yml").read_text()
SECRETS = kube.secret_keys()
SECRET_NAMES = kube.secret_variables()


def with_variable(compose_text: str, name: str) -> str:
    """compose.yml with one more setting in x-django-env, as a change that
    adds one would write it."""
    anchor = "x-django-env: &django-env\n"
    assert anchor in compose_text
    return compose_text.replace(anchor, f'{anchor}  {name}: "${{{name}:-}}"\n')


def without(manifests: list[dict], kind: str, name: str, key: str) -> list[dict]:
    """The manifests with one key less in a ConfigMap's data (a copy)."""
    changed = copy.deepcopy(manifests)
    for doc in changed:
        if doc["kind"] == kind and doc["metadata"]["name"].startswith(name):
            del doc["data"][key]
    return changed


def drifts(compose: dict, manifests: list[dict], defaults: bool = True) -> list[str]:
    return kube.drifts(compose, manifests, SECRETS, SECRET_NAMES, defaults=defaults)


@pytest.mark.parametrize("overlay", sorted(kube.OVERLAYS))
def test_the_manifests_follow_compose(overlay):
    # The base holds compose.yml's defaults; an overlay a site's values.
    manifests = kube.render(kube.OVERLAYS[overlay])
    assert drifts(kube.load_compose(), manifests, defaults=overlay == "base") == []


def test_a_variable_added_to_compose_but_not_to_the_manifests_is_a_drift():
    compose = kube.load_compose(with_variable(COMPOSE_TEXT, "NEW_SETTING"))
    found = drifts(compose, kube.render(kube.OVERLAYS["base"]))
    assert found == [
        f"{service}: compose.yml gives it NEW_SETTING, the manifests do not"
        for service in ("web", "worker", "migrate")
    ]


def test_a_variable_the_manifests_drop_is_a_drift():
    manifests = without(kube.render(kube.OVERLAYS["base"]), "ConfigMap", "app-config", "LOG_LEVEL")
    found = drifts(kube.load_compose(), manifests)
    assert "web: compose.yml gives it LOG_LEVEL, the manifests do not" in found


# A change to compose.yml (old text, new text: every occurrence) and a part of
# what the comparison then says: each check sees the change it is there for.
# fmt: off
COMPOSE_CHANGES = {
    "a default": ('LOG_LEVEL: "${LOG_LEVEL:-INFO}"', 'LOG_LEVEL: "${LOG_LEVEL:-DEBUG}"', "LOG_LEVEL"),
    "a fixed value": ('WEB_DRAIN_FILE: "/tmp/draining"', 'WEB_DRAIN_FILE: "/tmp/drain"', "WEB_DRAIN_FILE"),
    "a renamed variable": ('EMAIL_URL: "${EMAIL_URL:-}"', 'EMAIL_URLS: "${EMAIL_URLS:-}"', "EMAIL_URLS"),
    "the user": ('APP_UID: "${APP_UID:-1000}"', 'APP_UID: "${APP_UID:-1001}"', "runAsUser"),
    "the memory limit": ('"${WEB_MEMORY_LIMIT:-512M}"', '"${WEB_MEMORY_LIMIT:-1G}"', "memory limit"),
    "the cpu limit": ('"${WORKER_CPU_LIMIT:-1}"', '"${WORKER_CPU_LIMIT:-2}"', "worker: cpu limit"),
    "the tmpfs": ('tmpfs: ["/tmp:size=64m"]\n  # Uploads', 'tmpfs: ["/tmp:size=128m"]\n  # Uploads', "/tmp holds"),
    "a capability": ('cap_drop: ["ALL"]', 'cap_drop: ["NET_RAW"]', "drops capabilities"),
    "the liveness path": ("127.0.0.1:8000/healthz", "127.0.0.1:8000/livez", "livenessProbe"),
    "the worker's check": ('["CMD", "entrypoint.sh", "worker-health"]', '["CMD", "entrypoint.sh", "worker-alive"]', "worker: livenessProbe"),
    "the worker's grace": ("${WORKER_GRACE:-120}", "${WORKER_GRACE:-300}", "stop_grace_period 300s"),
    "the image": ("${COMPOSE_PROJECT_NAME}-web:latest", "${COMPOSE_PROJECT_NAME}-django:latest", "image app-web"),
    "a role": ('command: ["work"]', 'command: ["work", "--all"]', "worker: args"),
    "a service": ("  web-alt:\n", "  beat:\n    image: x\n  web-alt:\n", "service beat"),
}
# fmt: on


@pytest.mark.parametrize("change", sorted(COMPOSE_CHANGES))
def test_each_compose_change_is_a_drift(change):
    old, new, expected = COMPOSE_CHANGES[change]
    assert COMPOSE_TEXT.count(old) >= 1, f"compose.yml no longer has {old!r}"
    compose = kube.load_compose(COMPOSE_TEXT.replace(old, new))
    found = drifts(compose, kube.render(kube.OVERLAYS["base"]))
    assert any(expected in line for line in found), found


def test_a_secret_set_in_the_open_is_a_drift():
    manifests = kube.render(kube.OVERLAYS["base"])
    web = kube.find(manifests, "Deployment", "web")
    kube.pod_spec(web)["containers"][0]["env"].append({"name": "SECRET_KEY", "value": "x"})
    found = drifts(kube.load_compose(), manifests)
    assert any(line.startswith("web: SECRET_KEY is a secret") for line in found), found


def test_the_grace_periods_follow_the_settings_they_cover():
    manifests = kube.render(kube.OVERLAYS["production"])
    config = kube.config_map(manifests)
    config["WORKER_GRACE"] = "300"
    config["GUNICORN_GRACEFUL_TIMEOUT"] = "60"
    found = drifts(kube.load_compose(), manifests, defaults=False)
    assert [line.split(":")[0] for line in found] == ["worker", "web"], found


def test_the_intentional_differences_still_name_what_compose_has():
    compose = kube.load_compose()
    assert set(kube.NOT_ON_KUBERNETES) <= set(compose["services"])
    web = compose["services"]["web"]
    assert set(kube.NOT_PROVIDED) | set(kube.OTHER_VALUES) <= set(web["environment"])
    assert set(kube.NO_PER_CONTAINER_LIMIT) <= set(web["deploy"]["resources"]["limits"])
    # A value that differs on purpose differs indeed.
    for name, (value, _reason) in kube.OTHER_VALUES.items():
        assert kube.resolved(web["environment"][name]) != value


def test_the_secrets_are_the_settings_django_reads_from_files():
    # Less the database's own password: DATABASE_URL holds it here.
    provided = set().union(*SECRETS.values()) & SECRET_NAMES
    assert provided == SECRET_NAMES - set(kube.NOT_PROVIDED)


@pytest.mark.parametrize(
    ("compose", "kubernetes"),
    [("512M", "512Mi"), ("1G", "1Gi"), ("64m", "64Mi"), ("2g", "2048Mi")],
)
def test_compose_memory_sizes_are_binary(compose, kubernetes):
    assert kube.compose_memory_bytes(compose) == kube.memory_bytes(kubernetes)
    assert kube.memory_bytes("500M") == 500 * 1000**2  # Kubernetes' M is decimal


def test_durations_and_cpus():
    assert kube.seconds("35s") == 35
    assert kube.seconds("1m30s") == 90
    assert kube.cpus("500m") == kube.cpus("0.5")
    with pytest.raises(ValueError):
        kube.seconds("35")
