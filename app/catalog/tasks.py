"""The example app's background task: export items as CSV.

Safe to run again (tasks run at least once, README: Background tasks and
e-mail): the file goes to the same key on every attempt, replacing a partial
one, and the mail is marked sent in the transaction that sends it.
"""

import csv
import io
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from catalog.models import Export, Item

COLUMNS = ("id", "name", "description", "created_at", "attachment")


def items_csv(item_ids: list[int]) -> tuple[bytes, int]:
    """The items as CSV (header first, by id), and how many rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    rows = 0
    for values in Item.objects.filter(pk__in=item_ids).order_by("id").values_list(*COLUMNS):
        writer.writerow(values)
        rows += 1
    return buffer.getvalue().encode(), rows


@task
def export_items_csv(export_id: int, item_ids: list[int], download_url: str) -> dict:
    """Write the CSV to the default storage, record it, mail the requester.

    Returns the storage key and the row count: a small result for the
    database; the file itself stays in the storage."""
    export = Export.objects.select_related("requested_by").get(pk=export_id)
    content, rows = items_csv(item_ids)
    default_storage.delete(export.key)  # a previous attempt's file, if any
    # The name saved: the key, unless an overlapping attempt got there first.
    saved = default_storage.save(export.key, ContentFile(content))
    Export.objects.filter(pk=export_id).update(key=saved, rows=rows, finished_at=timezone.now())
    recipient = export.requested_by.email if export.requested_by else ""
    with transaction.atomic():
        # Marked and sent together: a failed send rolls the mark back, and the
        # retry sends it; only a crash right after sending can send it twice.
        unsent = Export.objects.filter(pk=export_id, mailed_at__isnull=True)
        if unsent.update(mailed_at=timezone.now()) and recipient:
            send_mail(
                subject=f"Your export of {rows} items is ready",
                message=f"Download it here (sign in as staff): {download_url}\n",
                from_email=None,
                recipient_list=[recipient],
            )
    return {"key": saved, "rows": rows}


@task
def prune_exports() -> int:
    """Delete exports (rows and files) older than TASK_RESULTS_KEEP_DAYS."""
    cutoff = timezone.now() - timedelta(days=settings.TASK_RESULTS_KEEP_DAYS)
    # Each deleted row takes its file (catalog.models.delete_export_file).
    deleted, _ = Export.objects.filter(requested_at__lt=cutoff).delete()
    return deleted
