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
