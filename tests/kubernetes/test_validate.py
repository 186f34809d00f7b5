"""Every rendered manifest is valid for two Kubernetes versions, offline:
kubernetes-validate's bundled schemas, strict (an unknown field, such as a
misspelt one, is an error; Kubernetes itself would drop it silently). No
cluster is involved (kubernetes/README.md)."""

import copy

import kubernetes_validate
import pytest

import kube

# The oldest version these manifests claim (README), and the newest the
# pinned kubernetes-validate knows: a bump of it moves this one along.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


def problems(manifests: list[dict], version: str) -> list[str]:
    found = []
    for doc in manifests:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(map(str, error.path))
            found.append(f"{doc['kind']} {doc['metadata']['name']} {where}: {error.message}")
    return found


def test_two_versions():
    assert len(set(VERSIONS)) == 2


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", sorted(kube.OVERLAYS))
def test_every_rendered_manifest_is_valid(overlay, version):
    manifests = kube.render(kube.OVERLAYS[overlay])
    kinds = {doc["kind"] for doc in manifests}
    assert {"ConfigMap", "Deployment", "Job", "Service", "Ingress"} <= kinds
    assert problems(manifests, version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_misspelt_field_or_a_wrong_type_is_refused(version):
    manifests = kube.render(kube.OVERLAYS["production"])
    web = kube.find(manifests, "Deployment", "web")
    misspelt, wrong_type = copy.deepcopy(web), copy.deepcopy(web)
    container = kube.pod_spec(misspelt)["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    wrong_type["spec"]["replicas"] = "two"
    assert len(problems([misspelt, wrong_type], version)) == 2
