import secrets

from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html
from django_tasks.exceptions import TaskResultDoesNotExist

from catalog.models import Export, Item
from catalog.tasks import export_items_csv


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["name", "attachment", "created_at"]
    search_fields = ["name"]
    actions = ["export_as_csv"]

    def has_export_permission(self, request: HttpRequest) -> bool:
        """The action is offered to those who may see the exports it makes."""
        return request.user.has_perm("catalog.view_export")

    @admin.action(
        description="Export selected items as CSV (in the background)", permissions=["export"]
    )
    def export_as_csv(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():  # the task is enqueued with its row, or neither is
            export = Export.objects.create(
                requested_by=request.user,
                key=f".exports/items-{secrets.token_urlsafe(16)}.csv",
            )
            url = request.build_absolute_uri(
                reverse("admin:catalog_export_download", args=[export.pk])
            )
            ids = list(queryset.values_list("pk", flat=True))
            export.task_id = export_items_csv.enqueue(export.pk, ids, url).id
            export.save(update_fields=["task_id"])
        link = reverse("admin:catalog_export_changelist")
        self.message_user(
            request,
            format_html(
                'Exporting {} items: the file appears under <a href="{}">Exports</a>, '
                "and a mail says when it is ready.",
                len(ids),
                link,
            ),
            messages.SUCCESS,
        )


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "requested_by", "status", "rows", "download"]
    # The storage key stays out of sight: the download view is the way in.
    readonly_fields = [f.name for f in Export._meta.fields if f.name != "key"]
    exclude = ["key"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the Items action

    @admin.display(description="task")
    def status(self, export: Export) -> str:
        """What the tasks backend says of it (failed ones: django-ox › Ox tasks in the admin)."""
        done = "successful" if export.finished_at else "-"
        if not export.task_id or not export_items_csv.get_backend().supports_get_result:
            return done
        try:
            return str(export_items_csv.get_result(export.task_id).status.label).lower()
        except TaskResultDoesNotExist:  # pruned (TASK_RESULTS_KEEP_DAYS)
            return done

    @admin.display(description="file")
    def download(self, export: Export) -> str:
        if not export.finished_at:
            return "-"
        url = reverse("admin:catalog_export_download", args=[export.pk])
        return format_html('<a href="{}">download CSV</a>', url)

    def get_urls(self):
        view = self.admin_site.admin_view(self.download_view)
        return [
            path("<int:pk>/download/", view, name="catalog_export_download"),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, pk: int) -> FileResponse:
        """The file, to staff who may view exports, whatever the storage."""
        export = Export.objects.filter(pk=pk, finished_at__isnull=False).first()
        allowed = request.user.has_perm("catalog.view_item")  # it holds items
        if export is None or not allowed or not self.has_view_permission(request, export):
            raise Http404("no such export")
        try:
            file = default_storage.open(export.key)
        except FileNotFoundError:
            raise Http404("the export's file is gone") from None
        return FileResponse(file, as_attachment=True, filename=f"items-{export.pk}.csv")
