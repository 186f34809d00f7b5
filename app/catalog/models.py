from django.conf import settings
from django.db import models


class Item(models.Model):
    """A catalogue entry; the example of a model the stack serves."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Optional: an image or any file, kept in the default storage (the media
    # volume, or a bucket: STORAGE_BACKEND). db_default lets the release
    # still serving insert rows while this column is added (a deploy).
    attachment = models.FileField(upload_to="items/%Y/%m/", blank=True, db_default="")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Export(models.Model):
    """A CSV export of items, written by a background task (catalog/tasks.py)
    to the default storage; the admin lists it with its download link."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The id of the task's result, to ask the tasks backend how it went.
    task_id = models.CharField(max_length=64, blank=True)
    # Set once at creation and never reused: the file's name in the storage,
    # the same on every attempt and impossible to guess from its URL.
    key = models.CharField(max_length=200, unique=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.rows if self.rows is not None else '…'} items)"
