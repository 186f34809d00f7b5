"""Development stack end to end: sh run.sh -1 in a throwaway copy."""

import subprocess

import pytest
import requests

from support import item_names, logged_in_pgadmin, select_one_on_the_dev_port, wait_for
from tools.throwaway import strong_secret

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev(stack):
    stack.write_env(SECRET_KEY=strong_secret())
    stack.run_sh("-1")
    return stack


def test_web_serves_the_example_endpoint(dev):
    response = requests.get(dev.url("dev", "/api/items/"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert isinstance(response.json()["items"], list)
    assert requests.get(dev.url("dev", "/readyz"), timeout=10).json()["database"] == "ok"


def test_runserver_reloads_a_code_change(dev):
    views = dev.root / "app" / "catalog" / "views.py"
    original = views.read_text()
    old = 'return JsonResponse({"items": [with_attachment_url(item) for item in items]})'
    assert old in original
    views.write_text(original.replace(old, 'return JsonResponse({"items": [], "reloaded": True})'))
    try:
        wait_for(
            lambda: requests.get(dev.url("dev", "/api/items/"), timeout=5).json().get("reloaded"),
            timeout=30,
        )
    finally:
        views.write_text(original)
    wait_for(
        lambda: "reloaded" not in requests.get(dev.url("dev", "/api/items/"), timeout=5).json(),
        timeout=30,
    )


def test_pgadmin_lists_the_dev_database_and_opens_it_without_a_password(dev):
    client = logged_in_pgadmin(dev)
    servers = client.servers()
    assert [server["label"] for server in servers] == ["dev database (app)"]
    answer = client.connect(servers[0]["gid"], servers[0]["sid"])
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["data"]["connected"] is True


def test_dev_ports_are_published_on_loopback_only(dev):
    for service, port in (("db", 5432), ("web", 8000), ("pgadmin", 8080)):
        bindings = dev.inspect("dev", service)["NetworkSettings"]["Ports"][f"{port}/tcp"]
        assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}, service
    assert dev.published("dev", "db", 5432) == f"127.0.0.1:{dev.ports['DEV_DB_PORT']}"
    assert select_one_on_the_dev_port(dev) == (1,)


def test_data_survives_down_and_up(dev):
    dev.psql(
        "dev", "INSERT INTO catalog_item (name, description, created_at) VALUES ('kept', '', now())"
    )
    dev.run_sh("down")
    assert dev.compose("dev", "ps", "-q").stdout.strip() == ""
    dev.run_sh("-1")
    response = requests.get(dev.url("dev", "/api/items/"), timeout=10)
    assert "kept" in item_names(response)


def test_dev_warns_about_a_model_change_without_migration_and_starts(dev):
    models = dev.root / "app" / "catalog" / "models.py"
    original = models.read_text()
    field = '    colour = models.CharField(max_length=20, default="")\n'
    models.write_text(
        original.replace("    name = models.CharField(", field + "    name = models.CharField(", 1)
    )
    # The file is put back only after the checks: putting it back reloads
    # runserver, and a request during the reload finds no server.
    try:
        result = dev.run_sh("-1")
        assert "WARNING: models have changes with no migration file" in result.stderr
        assert "Add field colour to item" in result.stderr
        assert requests.get(dev.url("dev", "/readyz"), timeout=10).status_code == 200
    finally:
        models.write_text(original)


def test_reset_deletes_the_dev_data_and_uploads_after_the_typed_name(dev):
    dev.compose("dev", "exec", "-T", "web", "sh", "-c", "echo upload > /srv/media/file.txt")
    volumes = [f"{dev.project}_{role}-dev-data" for role in ("db", "media", "pgadmin")]
    refused = dev.run_sh("reset", input="wrong\n", check=False)
    assert refused.returncode == 1 and "nothing was deleted" in refused.stderr
    assert all(volume_exists(volume) for volume in volumes)
    dev.run_sh("reset", input=f"{dev.project}\n")
    assert not any(volume_exists(volume) for volume in volumes)
    dev.run_sh("-1")
    files = dev.compose("dev", "exec", "-T", "web", "find", "/srv/media", "-type", "f").stdout
    assert files == ""  # the upload is gone (the volume holds only the empty spool)


def volume_exists(name: str) -> bool:
    inspected = subprocess.run(
        ["docker", "volume", "inspect", name], capture_output=True, check=False
    )
    return inspected.returncode == 0
