from django.contrib import admin

from catalog.models import Item


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["name", "attachment", "created_at"]
    search_fields = ["name"]
