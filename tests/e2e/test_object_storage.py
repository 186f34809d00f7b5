"""Uploads in an S3 bucket, end to end: the development stack with
STORAGE_BACKEND=s3 starts the dev S3 server (SeaweedFS, compose.dev.yml's s3
service); Django in the web container saves, signs and deletes; the host
fetches the signed links as a browser would; wrong keys stop the start."""

import json
import secrets
import time
from urllib.parse import urlsplit

import pytest
import requests

from tools.throwaway import free_port, strong_secret

pytestmark = pytest.mark.e2e

SAVE = """
import json
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage as storage
first = storage.save("attachments/report.bin", ContentFile(bytes.fromhex("{hex}")))
second = storage.save("attachments/report.bin", ContentFile(b"another"))
print(json.dumps({{"first": first, "second": second, "url": storage.url(first),
                  "short": storage.url(first, expire=1), "size": storage.size(first)}}))
"""
DELETE = """
from django.core.files.storage import default_storage as storage
for name in {names!r}:
    storage.delete(name)
print(all(not storage.exists(name) for name in {names!r}))
"""


@pytest.fixture(scope="module")
def s3_dev(own_stack):
    own_stack.write_env(
        SECRET_KEY=strong_secret(), STORAGE_BACKEND="s3", S3_DEV_PORT=str(free_port())
    )
    started = own_stack.run_sh("-1")
    return own_stack, started


def port(stack) -> str:
    return stack.env["S3_DEV_PORT"]


def shell(stack, code: str) -> str:
    """Python in the running web container, with Django set up."""
    result = stack.compose("dev", "exec", "-T", "web", "python", "manage.py", "shell", "-c", code)
    return result.stdout.strip().splitlines()[-1]


def browser_get(url: str) -> requests.Response:
    """GET ``url`` as a browser on this host does: any *.localhost name is
    loopback, and the Host header is the URL's own."""
    parts = urlsplit(url)
    assert parts.hostname == "s3.localhost"
    loopback = parts._replace(netloc=f"127.0.0.1:{parts.port}").geturl()
    return requests.get(loopback, headers={"Host": parts.netloc}, timeout=10)


def test_run_sh_starts_the_dev_s3_server_and_prints_its_url(s3_dev):
    stack, started = s3_dev
    assert f"S3:       http://s3.localhost:{port(stack)}  (bucket media;" in started.stderr
    s3 = stack.inspect("dev", "s3")
    assert s3["State"]["Health"]["Status"] == "healthy"
    bindings = s3["NetworkSettings"]["Ports"][f"{port(stack)}/tcp"]
    assert [(b["HostIp"], b["HostPort"]) for b in bindings] == [("127.0.0.1", port(stack))]
    assert s3["HostConfig"]["CapDrop"] == ["ALL"]
    assert sorted(s3["HostConfig"]["CapAdd"]) == ["CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"]
    assert s3["HostConfig"]["SecurityOpt"] == ["no-new-privileges:true"]
    assert any(m["Name"].endswith("_s3-dev-data") for m in s3["Mounts"])


def test_an_upload_round_trips_through_a_signed_link(s3_dev):
    stack, _ = s3_dev
    content = secrets.token_bytes(2048)
    saved = json.loads(shell(stack, SAVE.format(hex=content.hex())))
    try:
        assert saved["first"] == "attachments/report.bin"
        assert saved["second"] != saved["first"]  # never overwritten
        assert saved["size"] == len(content)
        url = urlsplit(saved["url"])
        assert url.netloc == f"s3.localhost:{port(stack)}"
        assert url.path == "/media/attachments/report.bin"
        assert "X-Amz-Signature=" in url.query and "X-Amz-Expires=3600" in url.query

        fetched = browser_get(saved["url"])
        assert fetched.status_code == 200, fetched.text[:300]
        assert fetched.content == content

        # No signature, another object under this one's, a changed expiry:
        # refused by the server.
        assert browser_get(url._replace(query="").geturl()).status_code == 403
        other = url._replace(path=f"/media/{saved['second']}").geturl()
        assert browser_get(other).status_code == 403
        longer = saved["url"].replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")
        assert browser_get(longer).status_code == 403
        # A link signed for one second, used after it expired.
        time.sleep(2)
        assert browser_get(saved["short"]).status_code == 403
    finally:
        names = [saved["first"], saved["second"]]
        assert shell(stack, DELETE.format(names=names)) == "True"
    assert browser_get(saved["url"]).status_code == 404


def test_wrong_keys_stop_the_start_in_one_clear_line(s3_dev):
    stack, _ = s3_dev
    # web and migrate get a secret the dev S3 server does not know.
    stack.edit(
        "compose.dev.yml",
        r'S3_SECRET_ACCESS_KEY: "\$\{S3_DEV_SECRET_ACCESS_KEY:-\}"',
        'S3_SECRET_ACCESS_KEY: "not-the-dev-secret"',
    )
    result = stack.run_sh("-1", check=False)
    assert result.returncode == 1
    assert result.seconds < 300
    assert (
        f"STORAGE_BACKEND=s3: bucket 'media' at http://s3.localhost:{port(stack)}: "
        "403 Forbidden — check S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY"
    ) in result.stderr
    assert "run.sh: start failed" in result.stderr
    assert stack.inspect("dev", "web")["State"]["Running"] is False
