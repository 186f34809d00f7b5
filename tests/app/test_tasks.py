"""The example export task, the admin around it, and the failed-task command,
in process: the tasks run at once (django.tasks' immediate backend) or are
rows of django-ox's queue that no worker takes."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_ox import actions
from django_ox.models import OxTask

from catalog.models import Export, Item
from catalog.tasks import export_items_csv, prune_exports

pytestmark = pytest.mark.django_db
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def export_action(admin_client, items):
    return admin_client.post(
        "/admin/catalog/item/",
        {"action": "export_as_csv", "_selected_action": [item.pk for item in items]},
        follow=True,
    )


def test_the_export_action_writes_the_csv_records_it_and_mails_the_requester(
    admin_client, admin_user, settings, media
):
    settings.TASKS = IMMEDIATE
    items = [Item.objects.create(name=f"item {n}", description="a, b") for n in range(3)]
    Item.objects.create(name="not selected")
    response = export_action(admin_client, items[:2])
    assert "Exporting 2 items" in response.content.decode()

    export = Export.objects.get()
    assert (export.rows, export.requested_by) == (2, admin_user)
    rows = list(csv.reader(io.StringIO((media / export.key).read_text())))
    assert rows[0] == ["id", "name", "description", "created_at", "attachment"]
    assert [row[1] for row in rows[1:]] == ["item 0", "item 1"]
    # Random, and in a folder the media server never serves (a dot folder).
    assert export.key.startswith(".exports/items-") and len(export.key) > 30

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [admin_user.email]
    assert f"/admin/catalog/export/{export.pk}/download/" in mail.outbox[0].body

    listing = admin_client.get("/admin/catalog/export/").content.decode()
    assert "download CSV" in listing and "successful" in listing
    download = admin_client.get(f"/admin/catalog/export/{export.pk}/download/")
    assert download["Content-Disposition"] == f'attachment; filename="items-{export.pk}.csv"'
    assert b"".join(download.streaming_content).decode().count("\n") == 3


def test_a_second_run_of_the_same_export_replaces_its_file_and_mails_once(
    admin_user, settings, media
):
    settings.TASKS = IMMEDIATE
    item = Item.objects.create(name="once")
    export = Export.objects.create(requested_by=admin_user, key=".exports/items-again.csv")
    for _ in range(2):  # at least once: a retry after a crash runs it again
        result = export_items_csv.enqueue(export.pk, [item.pk], "https://example.com/d")
        assert result.return_value == {"key": export.key, "rows": 1}
    assert sorted(p.name for p in (media / ".exports").iterdir()) == ["items-again.csv"]
    assert len(mail.outbox) == 1


def test_the_action_enqueues_a_task_with_its_export_row(admin_client):
    # The real backend (django-ox): the row and the task commit together, and
    # the export waits for a worker.
    item = Item.objects.create(name="queued")
    export_action(admin_client, [item])
    export = Export.objects.get()
    task = OxTask.objects.get(pk=export.task_id)
    assert (task.status, task.task_path) == ("READY", "catalog.tasks.export_items_csv")
    assert task.args[:2] == [export.pk, [item.pk]]
    listing = admin_client.get("/admin/catalog/export/").content.decode()
    assert "ready" in listing and "download CSV" not in listing


def test_an_unfinished_or_unknown_export_is_not_downloadable(admin_client, client, media):
    export = Export.objects.create(key=".exports/items-x.csv")
    assert admin_client.get(f"/admin/catalog/export/{export.pk}/download/").status_code == 404
    assert admin_client.get("/admin/catalog/export/999999/download/").status_code == 404
    Export.objects.filter(pk=export.pk).update(finished_at=timezone.now())
    assert admin_client.get(f"/admin/catalog/export/{export.pk}/download/").status_code == 404
    (media / ".exports").mkdir()
    (media / export.key).write_text("id\n")  # its file, once written
    assert admin_client.get(f"/admin/catalog/export/{export.pk}/download/").status_code == 200
    # Anonymous visitors are sent to the login page, never given the file.
    anonymous = client.get(f"/admin/catalog/export/{export.pk}/download/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]


def staff_with(client, *codenames: str):
    user = User.objects.create_user("staff", "staff@example.org", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_the_export_action_and_the_files_need_permission_to_see_exports_and_items(client, media):
    item = Item.objects.create(name="private")
    export = Export.objects.create(key=".exports/items-y.csv", finished_at=timezone.now())
    items_only = staff_with(client, "view_item")
    assert "export_as_csv" not in items_only.get("/admin/catalog/item/").content.decode()
    export_action(items_only, [item])
    assert Export.objects.count() == 1  # the action was refused
    assert items_only.get(f"/admin/catalog/export/{export.pk}/download/").status_code == 404
    User.objects.get(username="staff").user_permissions.set(
        Permission.objects.filter(codename="view_export")
    )
    assert client.get(f"/admin/catalog/export/{export.pk}/download/").status_code == 404


def test_deleting_or_pruning_an_export_deletes_its_file(admin_user, settings, media):
    settings.TASKS = IMMEDIATE
    settings.TASK_RESULTS_KEEP_DAYS = 7
    item = Item.objects.create(name="kept a week")
    old, recent = (
        Export.objects.create(requested_by=admin_user, key=f".exports/items-{name}.csv")
        for name in ("old", "recent")
    )
    for export in (old, recent):
        export_items_csv.enqueue(export.pk, [item.pk], "https://example.com/d")
    Export.objects.filter(pk=old.pk).update(requested_at=timezone.now() - timedelta(days=8))
    assert prune_exports.enqueue().return_value == 1
    assert sorted(p.name for p in (media / ".exports").iterdir()) == ["items-recent.csv"]
    Export.objects.all().delete()  # the admin's bulk delete
    assert not list((media / ".exports").iterdir())


def failed_task(error: str = "ValueError") -> OxTask:
    result = export_items_csv.enqueue(0, [], "")
    OxTask.objects.filter(pk=result.id).update(
        status="FAILED",
        attempts=3,
        finished_at=timezone.now(),
        errors=[{"exception_class_path": f"builtins.{error}", "traceback": f"{error}: boom\n"}],
    )
    return OxTask.objects.get(pk=result.id)


def test_failed_tasks_are_listed_with_their_error_and_retried(capsys):
    call_command("failed_tasks")
    assert capsys.readouterr().out.strip() == "no failed tasks"
    first = failed_task()
    failed_task("KeyError")
    call_command("failed_tasks")
    listing = capsys.readouterr().out
    assert f"{first.id}  FAILED" in listing and "ValueError: ValueError: boom" in listing
    assert "attempts 3/3" in listing and "2 failed" in listing

    call_command("failed_tasks", "--retry", str(first.id))
    assert "enqueued again: 1" in capsys.readouterr().out
    first.refresh_from_db()
    assert (first.status, first.max_attempts) == ("READY", 4)
    call_command("failed_tasks", "--retry-all")
    assert "enqueued again: 1" in capsys.readouterr().out
    assert not OxTask.objects.filter(status="FAILED").exists()


def test_retrying_an_id_that_did_not_fail_is_refused():
    ready = export_items_csv.enqueue(0, [], "")
    with pytest.raises(CommandError, match="nothing was retried"):
        call_command("failed_tasks", "--retry", str(ready.id))
    with pytest.raises(CommandError, match="nothing was retried"):
        call_command("failed_tasks", "--retry", "not-an-id")


def test_the_prune_task_deletes_old_results_and_keeps_recent_ones(settings):
    settings.TASK_RESULTS_KEEP_DAYS = 7
    old, recent = failed_task(), failed_task()
    OxTask.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    from core.tasks import prune_task_results

    prune_task_results.call()
    assert list(OxTask.objects.values_list("pk", flat=True)) == [recent.pk]
    assert actions.retry(recent.pk)
