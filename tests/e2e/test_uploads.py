"""Uploads in production, end to end: a file posted through the Django
admin's form over HTTPS lands on the media volume and is served at /media/
by the media server behind the proxy (its bytes, its content type, cache and
safety headers); no listing, no dotfile, no ../ escape, and a symlink planted
in the volume reaches none of the proxy's keys; uploads outlive `down`/`up`,
a redeploy and a rollback. (Backups of media: test_backup_media.py; object
storage: test_object_storage.py; development: test_browser.py.)
"""

import hashlib
import os
import secrets
import subprocess

import pytest
import requests

from support import AdminClient
from tools.throwaway import production_settings

pytestmark = pytest.mark.e2e

ADMIN = "admin"
PASSWORD = secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def site(own_stack):
    own_stack.write_env(
        **production_settings(
            behind_proxy=False,  # real HTTPS (Caddy's local CA): secure cookies work
            DJANGO_SUPERUSER_USERNAME=ADMIN,
            DJANGO_SUPERUSER_EMAIL="admin@example.org",
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
    )
    own_stack.run_sh("-0")
    own_stack.ca = str(own_stack.caddy_root())
    return own_stack


class Admin(AdminClient):
    """The Django admin through the proxy, as a browser's form posts reach it."""

    def __init__(self, site):
        super().__init__(site.https_url(""), ADMIN, PASSWORD, verify=site.ca)
        self.site = site

    def add_item(self, name: str, filename: str, content: bytes, content_type: str) -> str:
        """Add an item with an attachment; the attachment's URL path, from the API."""
        saved = self.post(
            "/admin/catalog/item/add/",
            {"name": name, "description": ""},
            files={"attachment": (filename, content, content_type)},
        )
        assert saved.url.endswith("/admin/catalog/item/"), saved.text[:1000]
        return attachment_path(self.site, name)


def attachment_path(site, name: str) -> str:
    items = fetch(site, "/api/items/?limit=100").json()["items"]
    return next(item["attachment"] for item in items if item["name"] == name)


def fetch(site, path: str) -> requests.Response:
    return requests.get(site.https_url(path), verify=site.ca, timeout=10)


def curl_as_is(site, path: str) -> tuple[str, str]:
    """(status, body) of ``path`` sent exactly as written (no ../ cleaning)."""
    done = subprocess.run(
        ["curl", "-sS", "--path-as-is", "--cacert", site.ca, "-w", "\n%{http_code}",
         site.https_url(path)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    body, _, status = done.stdout.rpartition("\n")
    return status, body


def web_exec(site, *args: str) -> str:
    return site.compose("prod", "exec", "-T", site.web_service(), *args).stdout


def test_an_admin_upload_is_stored_on_the_volume_and_served_by_the_proxy(site):
    pdf = b"%PDF-1.4\n" + os.urandom(100_000)
    path = Admin(site).add_item("manual", "user manual.pdf", pdf, "application/pdf")
    assert path.startswith("/media/items/") and path.endswith(".pdf"), path

    served = fetch(site, path)
    assert served.status_code == 200
    assert served.content == pdf
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Cache-Control"] == "public, max-age=3600"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    # Browsers' PDF viewers refuse sandboxed documents: PDFs get no CSP.
    assert "Content-Security-Policy" not in served.headers
    assert served.headers["ETag"]
    # Caddy answered from the volume: gunicorn never saw the request.
    assert path not in site.compose("prod", "logs", site.web_service()).stdout

    # The file is the app user's, on the production media volume.
    name = path.removeprefix("/media/")
    owner = web_exec(site, "stat", "-c", "%u", f"/srv/media/{name}").strip()
    assert owner == web_exec(site, "id", "-u").strip() != "0"
    mount = next(
        m
        for m in site.inspect("prod", site.web_service())["Mounts"]
        if m["Destination"] == "/srv/media"
    )
    assert mount["Name"] == f"{site.project}_media-prod-data"
    # Served by the media server, which mounts the volume read-only; the
    # proxy, which holds the certificates, does not mount it at all.
    served_from = {m["Destination"]: m for m in site.inspect("prod", "media")["Mounts"]}
    assert (served_from["/srv/media"]["Name"], served_from["/srv/media"]["RW"]) == (
        mount["Name"],
        False,
    )
    assert "/srv/media" not in {m["Destination"] for m in site.inspect("prod", "proxy")["Mounts"]}


def test_an_image_gets_its_content_type(site):
    png = bytes.fromhex("89504e470d0a1a0a") + os.urandom(2_000)
    path = Admin(site).add_item("picture", "photo.png", png, "image/png")
    served = fetch(site, path)
    assert (served.status_code, served.headers["Content-Type"]) == (200, "image/png")
    assert served.content == png
    assert "sandbox" in served.headers["Content-Security-Policy"]


def test_an_upload_larger_than_webs_tmp_is_spooled_on_the_volume(site):
    # 100 MB: more than web's /tmp (64 MB, in memory), where Django would
    # otherwise spool it.
    big = os.urandom(100 * 1024 * 1024)
    path = Admin(site).add_item("large", "large.bin", big, "application/octet-stream")
    served = requests.get(site.https_url(path), verify=site.ca, timeout=120)
    assert served.status_code == 200
    assert hashlib.sha256(served.content).digest() == hashlib.sha256(big).digest()
    assert web_exec(site, "ls", "-A", "/srv/media/.uploads") == ""  # the spool is emptied


def test_no_listing_no_hidden_file_and_nothing_outside_the_volume(site):
    Admin(site).add_item("listed", "a.txt", b"text", "text/plain")
    web_exec(
        site, "sh", "-c",
        "echo secret > /srv/media/.hidden && mkdir -p /srv/media/.restoring "
        "&& echo secret > /srv/media/.restoring/a.txt "
        "&& echo '<script>secret</script>' > /srv/media/items/index.html",
    )  # fmt: skip
    # An uploaded HTML page is served sandboxed, never as its folder's index.
    page = fetch(site, "/media/items/index.html")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].endswith("sandbox")
    for path in ("/media/", "/media/items/", "/media/.hidden", "/media/.restoring/a.txt"):
        response = fetch(site, path)
        assert response.status_code == 404, path
        assert "a.txt" not in response.text and "secret" not in response.text, path
    for path in (
        "/media/../../etc/passwd",
        "/media/..%2f..%2f..%2fetc%2fpasswd",
        "/media/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/media/../etc/caddy/Caddyfile",
        "/media/items/../../../config/caddy/autosave.json",
    ):
        status, body = curl_as_is(site, path)
        assert status in ("400", "404"), (path, status)
        assert "root:" not in body and "reverse_proxy" not in body, path


def test_a_symlink_planted_in_the_volume_reaches_none_of_the_proxys_keys(site):
    # What a compromised web container could do. The local CA's key is in
    # the proxy's /data: the media server has no such path.
    key = "/data/caddy/pki/authorities/local/root.key"
    assert site.compose("prod", "exec", "-T", "proxy", "test", "-f", key).returncode == 0
    web_exec(site, "ln", "-s", key, "/srv/media/planted.key")
    web_exec(site, "ln", "-s", "/data", "/srv/media/planted")
    for path in ("/media/planted.key", "/media/planted/caddy/pki/authorities/local/root.key"):
        response = fetch(site, path)
        assert response.status_code == 404, path
        assert "PRIVATE KEY" not in response.text, path


def test_uploads_survive_down_up_a_redeploy_and_a_rollback(site):
    admin = Admin(site)
    content = os.urandom(50_000)
    path = admin.add_item("kept", "kept.bin", content, "application/octet-stream")

    site.run_sh("down")
    site.run_sh("-0")
    assert fetch(site, path).content == content

    before = site.web_service()
    site.append("app/catalog/admin.py", "# release 2: a code change, so a new release")
    site.run_sh("-0")
    assert site.web_service() != before  # the new release serves from the other slot
    assert fetch(site, path).content == content
    later = os.urandom(20_000)
    later_path = Admin(site).add_item(
        "uploaded by release 2", "later.bin", later, "application/octet-stream"
    )

    site.run_sh("-0", "rollback")
    assert fetch(site, path).content == content
    assert fetch(site, later_path).content == later
