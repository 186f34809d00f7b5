"""URL routes. /healthz and /readyz are answered by core.health before routing."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path

from catalog.views import item_list

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/items/", item_list, name="item-list"),
]
# Uploads in development (runserver; static() adds nothing unless DEBUG). In
# production the proxy serves them (docker/caddy/Caddyfile).
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
