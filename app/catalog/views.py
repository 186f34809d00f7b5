from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from catalog.models import Item

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


@require_GET
def item_list(request: HttpRequest) -> JsonResponse:
    """The newest items as JSON; ``?limit=N`` (1-100, default 10)."""
    try:
        limit = min(max(int(request.GET.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
    except ValueError:
        return JsonResponse({"error": "limit must be a whole number"}, status=400)
    items = Item.objects.values("id", "name", "description", "created_at", "attachment")[:limit]
    return JsonResponse({"items": [with_attachment_url(item) for item in items]})


def with_attachment_url(item: dict) -> dict:
    """The item with its attachment's URL (the storage's: /media/..., or a
    bucket's, signed when configured) in place of its name; None if none."""
    name = item.pop("attachment")
    item["attachment"] = Item._meta.get_field("attachment").storage.url(name) if name else None
    return item
