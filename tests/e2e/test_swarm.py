"""Production on Docker Swarm (sh run.sh swarm), on a one-node swarm that
this module creates and leaves again, whatever happens.

The stack file Swarm gets loads in ``docker stack config`` and says what
Swarm changes; a deploy migrates once per release as a job before web is
updated; web scales to three; a code change rolls out under the load client
of test_deploys.py (tools/traffic.py) with no failed request; a release
whose web never gets healthy is rolled back by Swarm; data survives the
removal of the whole stack.
"""

import json
import re
import subprocess
import time

import pytest
import requests

from support import wait_for
from tools import traffic
from tools.throwaway import THROUGH_PROXY, production_settings

pytestmark = pytest.mark.e2e

# What the stack file changes of the Compose files (driver/swarm.py,
# SWARM_CHANGES): each a key Swarm would ignore, reject or change.
EXPECTED_CHANGES = {
    "build",
    "depends_on",
    "restart",
    "security_opt",
    "tmpfs",
    "ports.host_ip",
    "ports.mode",
    "environment secrets",
    "name",
}
# The proxy speaks plain HTTP behind a TLS proxy that the tests play.
HEADERS = {"Host": "example.com", **THROUGH_PROXY}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def one_node_swarm():
    """A swarm of this Docker alone, left at the end (a test must never leave
    the shared daemon in a swarm). One that was there before is used as it
    is and kept."""
    before = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if before != "active":
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        if before != "active":
            docker("swarm", "leave", "--force", check=False)


@pytest.fixture(scope="module")
def site(own_stack, one_node_swarm):
    own_stack.write_env(**production_settings(behind_proxy=True, WEB_REPLICAS="2"))
    traffic.install_views(own_stack)
    traffic.set_release(own_stack, "first")
    try:
        yield own_stack
    finally:
        remove_stack(own_stack.project)


def remove_stack(name: str) -> None:
    """The stack, then its volumes once its containers are gone (the worker
    may finish a task first, WORKER_GRACE), or forced out: the volumes go
    whatever happened."""
    docker("stack", "rm", name, check=False)
    label = f"label=com.docker.stack.namespace={name}"
    try:
        wait_for(lambda: not docker("ps", "-q", "--filter", label).stdout.split(), timeout=180)
    finally:
        left = docker("ps", "-aq", "--filter", label).stdout.split()
        if left:
            docker("rm", "--force", *left, check=False)
        volumes = docker("volume", "ls", "-q", "--filter", label).stdout.split()
        if volumes:
            docker("volume", "rm", *volumes, check=False)


def service(site, name: str) -> str:
    return f"{site.project}_{name}"


def running_tasks(site, name: str) -> list[str]:
    ps = docker(
        "service", "ps", "--filter", "desired-state=running", "--format",
        "{{.ID}} {{.CurrentState}}", service(site, name),
    )  # fmt: skip
    return [line.split()[0] for line in ps.stdout.splitlines() if " Running" in line]


def migrate_tasks(site) -> list[str]:
    return docker("service", "ps", "-q", service(site, "migrate"), check=False).stdout.split()


def image_of(site, name: str) -> str:
    spec = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    return docker("service", "inspect", "--format", spec, service(site, name)).stdout.strip()


def db_container(site) -> str:
    label = f"label=com.docker.swarm.service.name={service(site, 'db')}"
    return docker("ps", "-q", "--filter", label).stdout.split()[0]


def sql(site, statement: str) -> str:
    db = db_container(site)
    user, name = site.settings["POSTGRES_USER"], site.settings["POSTGRES_DB"]
    return docker("exec", db, "psql", "-U", user, "-d", name, "-tAc", statement).stdout.strip()


def url(site, path: str) -> str:
    return f"http://127.0.0.1:{site.ports['HTTP_PORT']}{path}"


def release_served(site) -> str:
    response = requests.post(
        url(site, "/fixture/items/"), data={"name": "probe"}, headers=HEADERS, timeout=10
    )
    assert response.status_code == 201, response.text[:300]
    return response.headers["X-Fixture-Release"]


def load(site):
    return traffic.traffic(url(site, ""), connections=8, headers=HEADERS)


def deploy(site, check: bool = True):
    return site.run_sh("swarm", "deploy", check=check)


def test_the_stack_file_loads_in_swarm_and_says_what_swarm_changes(site, tmp_path):
    result = site.run_sh("swarm", "config")
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(result.stdout)
    loaded = docker("stack", "config", "-c", str(stack_file), check=False)
    assert loaded.returncode == 0, loaded.stderr
    changed = {line.removeprefix("run.sh: ").split(" (")[0] for line in result.stderr.splitlines()}
    assert changed == EXPECTED_CHANGES
    # Secrets go by name: their values are in no service's environment.
    for setting in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        assert site.env[setting] not in result.stdout
    model = json.loads(result.stdout)
    web = model["services"]["web"]
    assert web["environment"]["SECRET_KEY_FILE"] == "/run/secrets/SECRET_KEY"
    assert web["deploy"]["update_config"]["order"] == "start-first"
    assert web["deploy"]["update_config"]["failure_action"] == "rollback"
    assert {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 << 20}} in web["volumes"]
    assert model["services"]["migrate"]["deploy"]["mode"] == "replicated-job"
    # One host's second web slot has no place on Swarm, which rolls web itself.
    assert set(model["services"]) == {"db", "migrate", "web", "worker", "proxy", "media", "backup"}
    # db and backup keep their own images, built on the data node.
    assert model["services"]["backup"]["image"] == f"{site.project}-backup:latest"


def test_a_deploy_migrates_once_as_a_job_then_serves(site):
    result = deploy(site)
    assert "Ignoring unsupported options" not in result.stderr  # every key accounted for
    assert "migrate job done" in result.stderr
    assert len(running_tasks(site, "web")) == 2
    assert release_served(site) == "first"
    (job,) = migrate_tasks(site)
    # Hardening Swarm applies: the tmpfs, read-only root, dropped capabilities.
    spec = json.loads(docker("service", "inspect", service(site, "web")).stdout)[0]
    container = spec["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    assert any(mount["Type"] == "tmpfs" for mount in container["Mounts"])
    assert not any(line.startswith("SECRET_KEY=") for line in container["Env"])
    # The same release again: its migrate job is not run a second time.
    again = deploy(site)
    assert "migrations of this release already applied" in again.stderr
    assert migrate_tasks(site) == [job]


def test_web_scales_to_three(site):
    site.set_env(WEB_REPLICAS="3")
    before = migrate_tasks(site)
    deploy(site)
    assert len(running_tasks(site, "web")) == 3
    assert migrate_tasks(site) == before  # the same release: no migration


def test_a_code_change_rolls_out_under_load_and_drops_no_request(site):
    traffic.set_release(site, "second")
    old_job = migrate_tasks(site)
    with load(site) as client:
        time.sleep(2)
        started = time.monotonic()
        deploy(site)
        took = time.monotonic() - started
        time.sleep(2)
    counts = client.counts
    update = docker(
        "service", "inspect", "--format",
        "{{.UpdateStatus.StartedAt.Unix}} {{.UpdateStatus.CompletedAt.Unix}}", service(site, "web"),
    ).stdout.split()  # fmt: skip
    rolling = int(update[1]) - int(update[0])
    print(
        f"deploy {took:.1f} s, of which the rolling update of 3 web tasks {rolling} s; {counts.summary()}"
    )
    assert not counts.failures, counts.summary()
    assert counts.releases == {"first", "second"}, counts.summary()
    assert counts.slow_done > 0, counts.summary()
    names = "','".join(counts.acknowledged)
    stored = sql(site, f"SELECT count(*) FROM catalog_item WHERE name IN ('{names}')")
    assert int(stored) == len(counts.acknowledged)
    assert release_served(site) == "second"
    new_job = migrate_tasks(site)
    assert len(new_job) == 1 and new_job != old_job  # once for the new release


def test_a_release_whose_web_never_gets_healthy_is_rolled_back(site):
    serving = image_of(site, "web")
    traffic.set_release(site, "broken")
    site.append("app/config/wsgi.py", 'raise SystemExit("fixture: this release never starts")')
    try:
        with load(site) as client:
            result = deploy(site, check=False)
    finally:
        site.edit("app/config/wsgi.py", r'^raise SystemExit\("fixture: [^\n]*\n', "")
        traffic.set_release(site, "second")
    assert result.returncode == 1
    assert "Swarm rolled it back to the previous release" in result.stderr
    assert image_of(site, "web") == serving
    assert not client.counts.failures, client.counts.summary()
    assert release_served(site) == "second"


def test_a_backup_of_the_swarms_database(site):
    result = site.run_sh("swarm", "backup")
    (dump,) = re.findall(r"backup: (\S+\.dump) \(", result.stderr)
    assert "the uploads are not in it" in result.stderr
    with (site.root / dump).open("rb") as archive:  # relative to the copy, or absolute
        listing = subprocess.run(
            ["docker", "exec", "-i", db_container(site), "pg_restore", "--list"],
            stdin=archive, capture_output=True, text=True, check=True,
        )  # fmt: skip
    assert "TABLE DATA public catalog_item" in listing.stdout


def test_data_survives_removing_the_whole_stack_and_moves_to_compose_and_back(site):
    sql(site, "INSERT INTO catalog_item (name, description, created_at) VALUES ('kept', '', now())")
    # Compose's production and the swarm share the volumes: never both.
    beside = site.run_sh("-0", "psql", "-c", "SELECT 1", check=False)
    assert beside.returncode == 1
    assert "runs on Docker Swarm here, on the same volumes" in beside.stderr
    site.run_sh("swarm", "rm")  # returns once the stack's containers are gone
    label = f"label=com.docker.stack.namespace={site.project}"
    assert not docker("ps", "-q", "--filter", label).stdout.split()
    assert docker("volume", "ls", "-q", "--filter", label).stdout.split()  # volumes stay
    # The same volumes under Compose on this node (how a restore is done).
    site.run_sh("-0")
    assert site.psql("prod", "SELECT count(*) FROM catalog_item WHERE name = 'kept'") == "1"
    refused = deploy(site, check=False)
    assert refused.returncode == 1
    assert "stop it first with sh run.sh -0 down" in refused.stderr
    site.run_sh("-0", "down")
    deploy(site)
    assert sql(site, "SELECT count(*) FROM catalog_item WHERE name = 'kept'") == "1"
    assert release_served(site) == "second"
