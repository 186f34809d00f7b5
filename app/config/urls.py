"""URL routes. /healthz and /readyz are answered by core.health before routing."""

from django.contrib import admin
from django.urls import path

from catalog.views import item_list

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/items/", item_list, name="item-list"),
]
