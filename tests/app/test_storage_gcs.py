"""STORAGE_BACKEND=gcs against a real Google Cloud Storage emulator
(gcp-storage-emulator, on a free 127.0.0.1 port; google-cloud-storage
talks to it through STORAGE_EMULATOR_HOST). Signed URLs are signed locally
with a service account whose RSA key the test makes, and checked against
its public key."""

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from django_process import run_django
from service_account import write_key
from tools.throwaway import free_port

START_TIMEOUT = 20


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> str:
    """STORAGE_EMULATOR_HOST of an emulator with the bucket ``media``."""
    port = free_port()
    log = (tmp_path_factory.mktemp("gcs") / "emulator.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gcp-storage-emulator"), "start",
         "--host", "127.0.0.1", "--port", str(port), "--default-bucket", "media", "--in-memory"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the GCS emulator did not start: {log.name}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def gcs(emulator: str, **values: str) -> dict[str, str]:
    return {
        "DEBUG": "true",
        "STORAGE_BACKEND": "gcs",
        "GCS_BUCKET": "media",
        "GCS_PROJECT_ID": "test-project",
        "STORAGE_EMULATOR_HOST": emulator,
        **values,
    }


ROUND_TRIP = """
import json, urllib.request
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage as storage
from django.core.management import call_command
call_command("check_storage")
name = storage.save("docs/hello world.txt", ContentFile(b"hello, bucket"))
second = storage.save("docs/hello world.txt", ContentFile(b"another"))
with storage.open(name) as file:
    read = file.read().decode()
url = storage.url(name)
fetched = urllib.request.urlopen(url, timeout=10).read().decode()
storage.delete(name)
storage.delete(second)
print(json.dumps({"name": name, "second": second, "read": read, "url": url,
                  "fetched": fetched, "exists": storage.exists(name)}))
"""


def test_save_read_url_and_delete(emulator):
    result = run_django(ROUND_TRIP, **gcs(emulator, GCS_SIGNED_URLS="false"))
    assert result.returncode == 0, result.stderr
    assert "storage: gcs, media: ok" in result.stdout
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["name"] == "docs/hello world.txt"
    assert done["second"].startswith("docs/hello world_") and done["second"] != done["name"]
    assert done["read"] == done["fetched"] == "hello, bucket"
    assert done["url"] == f"{emulator}/media/docs/hello%20world.txt"
    assert done["exists"] is False


def test_a_missing_bucket_fails_the_start_check_in_one_line(emulator):
    code = "from django.core.management import call_command; call_command('check_storage')"
    result = run_django(code, **gcs(emulator, GCS_BUCKET="no-such-bucket"))
    assert result.returncode != 0
    assert (
        "CommandError: STORAGE_BACKEND=gcs: bucket 'no-such-bucket': 404 Not Found — "
        "check GCS_BUCKET"
    ) in result.stderr


def signature_verifies(url: str, public_key: rsa.RSAPublicKey) -> bool:
    """Google's V4 signature of a GET of ``url``, rebuilt from the URL and
    checked with the service account's public key."""
    parts = urlsplit(url)
    pairs = [pair.split("=", 1) for pair in parts.query.split("&")]
    fields = {name: unquote(value) for name, value in pairs}
    query = "&".join(f"{name}={value}" for name, value in pairs if name != "X-Goog-Signature")
    canonical = "\n".join(
        ["GET", parts.path, query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = fields["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        [
            fields["X-Goog-Algorithm"],
            fields["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    try:
        public_key.verify(
            bytes.fromhex(fields["X-Goog-Signature"]),
            to_sign.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True


def test_signed_urls_are_signed_by_the_service_account_for_the_expiry(emulator, tmp_path):
    public_key = write_key(tmp_path / "key.json")
    code = "from django.core.files.storage import default_storage; print(default_storage.url('docs/a b.pdf'))"
    result = run_django(
        code, **gcs(emulator, GCS_CREDENTIALS_FILE=str(tmp_path / "key.json"), GCS_URL_EXPIRY="90")
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith(f"{emulator}/media/docs/a%20b.pdf?X-Goog-Algorithm=GOOG4-RSA-SHA256&")
    assert "X-Goog-Credential=uploads%40test-project.iam.gserviceaccount.com%2F" in url
    assert "&X-Goog-Expires=90&" in url
    assert signature_verifies(url, public_key)
    # The signature covers the object's name and the expiry.
    assert not signature_verifies(url.replace("a%20b.pdf", "other.pdf"), public_key)
    assert not signature_verifies(
        url.replace("X-Goog-Expires=90", "X-Goog-Expires=900"), public_key
    )
