"""Development stack end to end: sh run.sh -1 in a throwaway copy."""

import csv
import io
import secrets
import subprocess

import pytest
import requests

from support import (
    AdminClient,
    item_names,
    logged_in_pgadmin,
    select_one_on_the_dev_port,
    wait_for,
)
from tools.throwaway import strong_secret

pytestmark = pytest.mark.e2e

ADMIN, ADMIN_EMAIL, PASSWORD = "admin", "admin@example.org", secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def dev(stack):
    stack.write_env(
        SECRET_KEY=strong_secret(),
        DJANGO_SUPERUSER_USERNAME=ADMIN,
        DJANGO_SUPERUSER_EMAIL=ADMIN_EMAIL,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    started = stack.run_sh("-1")
    mail_port = stack.published("dev", "mail", 1080).rpartition(":")[2]
    assert f"mail:     http://localhost:{mail_port}/" in started.stderr
    return stack


def test_an_admin_export_runs_in_the_worker_is_stored_and_mailed(dev):
    """The example task end to end: the admin action enqueues it, the worker
    writes the CSV to the dev media volume, the admin links it, and its mail
    reaches the mail catcher (read through MailDev's REST API)."""
    names = [f"exported-{n}" for n in range(3)]
    values = ",".join(f"('{name}', 'x', now(), '')" for name in names)
    dev.psql(
        "dev",
        f"INSERT INTO catalog_item (name, description, created_at, attachment) VALUES {values}",
    )
    listed = "','".join(names)
    ids = dev.psql("dev", f"SELECT id FROM catalog_item WHERE name IN ('{listed}')").split()
    admin = AdminClient(dev.url("dev", ""), ADMIN, PASSWORD)
    done = admin.post("/admin/catalog/item/", {"action": "export_as_csv", "_selected_action": ids})
    assert "Exporting 3 items" in done.text

    def finished() -> list[str]:
        row = dev.psql(
            "dev", "SELECT id, key, rows FROM catalog_export WHERE finished_at IS NOT NULL"
        )
        return row.split("|") if row else []

    export_id, key, rows = wait_for(finished, timeout=60)
    assert rows == "3"
    stored = dev.compose("dev", "exec", "-T", "web", "cat", f"/srv/media/{key}").stdout
    assert [row[1] for row in csv.reader(io.StringIO(stored))][1:] == names
    listing = admin.get("/admin/catalog/export/").text
    assert "successful" in listing and f"/admin/catalog/export/{export_id}/download/" in listing
    downloaded = admin.get(f"/admin/catalog/export/{export_id}/download/").text
    assert list(csv.reader(io.StringIO(downloaded))) == list(csv.reader(io.StringIO(stored)))

    inbox = f"http://{dev.published('dev', 'mail', 1080)}/email"

    def delivered() -> list[dict]:
        mails = requests.get(inbox, timeout=10).json()
        return [m for m in mails if m["subject"] == "Your export of 3 items is ready"]

    (mail,) = wait_for(delivered, timeout=30)
    assert [to["address"] for to in mail["to"]] == [ADMIN_EMAIL]
    assert f"/admin/catalog/export/{export_id}/download/" in mail["text"]


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
    for service, port in (("db", 5432), ("web", 8000), ("pgadmin", 8080), ("mail", 1080)):
        bindings = dev.inspect("dev", service)["NetworkSettings"]["Ports"][f"{port}/tcp"]
        assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}, service
    # The mail catcher's SMTP port is for the stack's containers only.
    assert not dev.inspect("dev", "mail")["NetworkSettings"]["Ports"].get("1025/tcp")
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
