"""The example app: JSON endpoint reads the database; the admin lists the model."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

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


def test_an_attachment_uploaded_in_the_admin_is_stored_and_linked(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("notes.txt", b"attached bytes", content_type="text/plain")
    response = admin_client.post(
        "/admin/catalog/item/add/", {"name": "with a file", "description": "", "attachment": upload}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    item = Item.objects.get(name="with a file")
    assert (tmp_path / item.attachment.name).read_bytes() == b"attached bytes"
    assert item.attachment.name.startswith("items/")
    listed = client_json(admin_client)["items"][0]
    assert listed["attachment"] == f"/media/{item.attachment.name}"


def test_an_item_without_attachment_lists_none(client):
    Item.objects.create(name="no file")
    assert client_json(client)["items"][0]["attachment"] is None


def client_json(client) -> dict:
    response = client.get("/api/items/")
    assert response.status_code == 200
    return response.json()
