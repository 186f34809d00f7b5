"""What the manifests must do on Kubernetes that compose.yml cannot say:
the rollout, the drain, the order of a deploy, a site's own values."""

import posixpath
import subprocess

import pytest

import kube

# kubernetes/README.md's first step applies these alone: the config and the
# migrate Job, which must complete before web and worker roll out.
FIRST_STEP = "app.kubernetes.io/component in (config,migrate)"
README = (kube.KUBERNETES_DIR / "README.md").read_text()


@pytest.fixture(params=sorted(kube.OVERLAYS))
def manifests(request):
    return kube.render(kube.OVERLAYS[request.param])


def web_container(manifests):
    return kube.pod_spec(kube.find(manifests, "Deployment", "web"))["containers"][0]


def test_a_rollout_never_has_fewer_ready_web_pods(manifests):
    strategy = kube.find(manifests, "Deployment", "web")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_a_stopping_web_pod_drains_first(manifests):
    container = web_container(manifests)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["sh", "-c"] and 'touch "$WEB_DRAIN_FILE"' in command[2]
    assert kube.drain_seconds(container) >= 5
    # The drain file is on a writable path of the read-only container.
    drain_file = next(e["value"] for e in container["env"] if e["name"] == "WEB_DRAIN_FILE")
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert posixpath.dirname(drain_file) in mounts


def test_every_pod_is_confined(manifests):
    for doc in manifests:
        if doc["kind"] in ("Deployment", "Job"):
            pod = kube.pod_spec(doc)
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            # No API token; no service variables (a Service web sets WEB_PORT).
            assert pod["automountServiceAccountToken"] is False
            assert pod["enableServiceLinks"] is False


def test_the_ingress_reaches_web_through_its_service(manifests):
    service = kube.find(manifests, "Service", "web")
    pods = kube.find(manifests, "Deployment", "web")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pods.items()
    port_names = {p["name"] for p in web_container(manifests)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    ingress = kube.find(manifests, "Ingress", "web")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"] == {"name": "web", "port": {"name": "http"}}


def test_the_first_step_of_a_deploy_applies_the_config_and_the_job_alone(manifests):
    assert f"-l '{FIRST_STEP}'" in README
    key, values = FIRST_STEP.split(" in ")
    chosen = {
        doc["kind"]
        for doc in manifests
        if doc["metadata"].get("labels", {}).get(key) in values.strip("()").split(",")
    }
    assert chosen == {"ConfigMap", "Job"}


def test_production_runs_a_pushed_release_on_its_host():
    manifests = kube.render(kube.OVERLAYS["production"])
    workloads = [doc for doc in manifests if doc["kind"] in ("Deployment", "Job")]
    (image,) = {kube.pod_spec(doc)["containers"][0]["image"] for doc in workloads}
    name, _, tag = image.rpartition(":")
    assert "/" in name and tag and tag != "latest", image
    assert kube.find(manifests, "Deployment", "web")["spec"]["replicas"] >= 2
    allowed = kube.config_map(manifests)["ALLOWED_HOSTS"].split(",")
    hosts = [rule["host"] for rule in kube.find(manifests, "Ingress", "web")["spec"]["rules"]]
    assert hosts and set(hosts) <= set(allowed)
    budget = kube.find(manifests, "PodDisruptionBudget", "web")["spec"]
    pods = kube.find(manifests, "Deployment", "web")["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pods.items()
    assert budget["minAvailable"] < kube.find(manifests, "Deployment", "web")["spec"]["replicas"]


def test_filled_in_secrets_are_never_committed():
    inside = ["git", "rev-parse", "--is-inside-work-tree"]
    if subprocess.run(inside, cwd=kube.REPO_DIR, capture_output=True, check=False).returncode:
        # A copy outside git (the benchmark's throwaway stack) commits nothing.
        pytest.skip("not a git checkout: git's ignore rules do not apply")
    for name in kube.secret_keys():
        path = f"kubernetes/secrets/{name}.env"
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=kube.REPO_DIR, check=False)
        assert done.returncode == 0, f"{path} is not gitignored"
