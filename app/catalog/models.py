from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver


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
    # Chosen at creation: the file's name in the default storage, the same
    # on every attempt, random, and in a hidden folder (.exports/) that the
    # media server never serves: the admin's download view is the way in.
    key = models.CharField(max_length=200, unique=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.rows if self.rows is not None else '…'} items)"


@receiver(post_delete, sender=Export)
def delete_export_file(sender: type[Export], instance: Export, **kwargs: object) -> None:
    """The file goes with its row (the admin's delete, the nightly prune)."""
    if instance.key:
        default_storage.delete(instance.key)
