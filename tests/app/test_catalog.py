"""The example app: JSON endpoint reads the database; the admin lists the model."""

import pytest

from catalog.models import Item

pytestmark = pytest.mark.django_db


def test_items_endpoint_returns_newest_first(client):
    for name in ("first", "second", "third"):
        Item.objects.create(name=name)
    response = client.get("/api/items/?limit=2")
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["items"]] == ["third", "second"]


def test_items_endpoint_rejects_a_bad_limit(client):
    response = client.get("/api/items/?limit=lots")
    assert response.status_code == 400
    assert response.json() == {"error": "limit must be a whole number"}


def test_items_endpoint_only_reads(client):
    assert client.post("/api/items/").status_code == 405


def test_admin_lists_items(admin_client):
    Item.objects.create(name="listed in the admin")
    response = admin_client.get("/admin/catalog/item/")
    assert response.status_code == 200
    assert "listed in the admin" in response.content.decode()
