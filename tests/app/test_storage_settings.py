"""config/storage.py: STORAGE_BACKEND and the S3_* / GCS_* variables become
STORAGES["default"]; each bad value is refused in one line naming it."""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import storage
from django_process import run_django
from service_account import EMAIL, write_key
from settings_env import env_of

S3 = {"STORAGE_BACKEND": "s3", "S3_BUCKET": "media"}
GCS = {"STORAGE_BACKEND": "gcs", "GCS_BUCKET": "media"}


def options(**values: str) -> dict:
    return storage.default_storage(env_of(**values))["OPTIONS"]


def refusal(**values: str) -> str:
    with pytest.raises(ImproperlyConfigured) as caught:
        storage.default_storage(env_of(**values))
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("value", ["", "filesystem", "FileSystem"])
def test_the_filesystem_is_the_default(value):
    assert storage.default_storage(env_of(STORAGE_BACKEND=value)) == {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }


def test_an_unknown_backend_is_refused_by_name():
    message = refusal(STORAGE_BACKEND="azure")
    assert message.startswith("STORAGE_BACKEND must be one of filesystem, s3, gcs, got 'azure'")


def test_s3_defaults_are_aws_signed_urls_an_hour_and_no_overwrite():
    built = storage.default_storage(env_of(**S3))
    assert built["BACKEND"] == "storages.backends.s3.S3Storage"
    opts = built["OPTIONS"]
    assert opts["bucket_name"] == "media"
    assert opts["endpoint_url"] is None and opts["region_name"] is None
    assert opts["access_key"] is None and opts["secret_key"] is None
    assert opts["querystring_auth"] is True
    assert opts["querystring_expire"] == 3600
    assert opts["gzip"] is False
    assert opts["file_overwrite"] is False
    assert opts["signature_version"] == "s3v4"
    config = opts["client_config"]
    assert config.signature_version == "s3v4"
    assert config.s3 == {"addressing_style": "auto"}
    assert config.retries == {"mode": "standard", "max_attempts": 3}


def test_s3_settings_reach_the_options():
    opts = options(
        **S3,
        S3_ENDPOINT_URL="https://storage.example.net/",
        S3_REGION="ru-1",
        S3_ACCESS_KEY_ID="AKIDEXAMPLE",
        S3_SECRET_ACCESS_KEY="secret",
        S3_ADDRESSING_STYLE="Virtual",
        S3_URL_EXPIRY="600",
        S3_GZIP="true",
        S3_MAX_ATTEMPTS="5",
    )
    assert opts["endpoint_url"] == "https://storage.example.net"
    assert opts["region_name"] == "ru-1"
    assert (opts["access_key"], opts["secret_key"]) == ("AKIDEXAMPLE", "secret")
    assert opts["addressing_style"] == "virtual"
    assert opts["client_config"].s3 == {"addressing_style": "virtual"}
    assert opts["querystring_expire"] == 600
    assert opts["gzip"] is True
    assert opts["client_config"].retries["max_attempts"] == 5


def test_an_s3_compatible_endpoint_defaults_to_path_style():
    opts = options(**S3, S3_ENDPOINT_URL="http://s3.localhost:8333")
    assert opts["client_config"].s3 == {"addressing_style": "path"}


def test_a_custom_domain_gives_plain_urls_unless_told_to_sign():
    opts = options(**S3, S3_CUSTOM_DOMAIN="media.example.com")
    assert opts["custom_domain"] == "media.example.com"
    assert opts["querystring_auth"] is False
    message = refusal(**S3, S3_CUSTOM_DOMAIN="media.example.com", S3_SIGNED_URLS="true")
    assert message.startswith("S3_SIGNED_URLS=true cannot sign S3_CUSTOM_DOMAIN URLs")


def test_unsigned_urls_for_a_public_bucket():
    assert options(**S3, S3_SIGNED_URLS="false")["querystring_auth"] is False


def test_s3_keys_are_read_from_files(tmp_path):
    (tmp_path / "id").write_text("AKIDFROMFILE\n")
    (tmp_path / "secret").write_text("secret-from-file\n")
    opts = options(
        **S3,
        S3_ACCESS_KEY_ID_FILE=str(tmp_path / "id"),
        S3_SECRET_ACCESS_KEY_FILE=str(tmp_path / "secret"),
    )
    assert (opts["access_key"], opts["secret_key"]) == ("AKIDFROMFILE", "secret-from-file")


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({"S3_BUCKET": ""}, "S3_BUCKET is empty: STORAGE_BACKEND=s3 needs it"),
        ({"S3_ACCESS_KEY_ID": "AKID"}, "S3_SECRET_ACCESS_KEY is empty while its pair is set"),
        ({"S3_SECRET_ACCESS_KEY": "s"}, "S3_ACCESS_KEY_ID is empty while its pair is set"),
        (
            {"S3_SECRET_ACCESS_KEY_FILE": "/nonexistent/secret", "S3_ACCESS_KEY_ID": "AKID"},
            "S3_SECRET_ACCESS_KEY_FILE: cannot read '/nonexistent/secret' (No such file",
        ),
        ({"S3_ENDPOINT_URL": "s3.example.com"}, "S3_ENDPOINT_URL must be a URL"),
        ({"S3_ENDPOINT_URL": "ftp://s3.example.com"}, "S3_ENDPOINT_URL must be a URL"),
        ({"S3_ADDRESSING_STYLE": "dns"}, "S3_ADDRESSING_STYLE must be one of path, virtual, auto"),
        ({"S3_CUSTOM_DOMAIN": "https://cdn.example.com"}, "S3_CUSTOM_DOMAIN must be a host name"),
        ({"S3_CUSTOM_DOMAIN": "cdn.example.com/media"}, "S3_CUSTOM_DOMAIN must be a host name"),
        ({"S3_SIGNED_URLS": "sometimes"}, "S3_SIGNED_URLS must be true or false"),
        ({"S3_URL_EXPIRY": "1h"}, "S3_URL_EXPIRY must be a whole number of at least 1"),
        ({"S3_URL_EXPIRY": "0"}, "S3_URL_EXPIRY must be a whole number of at least 1"),
        ({"S3_URL_EXPIRY": "604801"}, "S3_URL_EXPIRY must be at most 604800 seconds"),
        ({"S3_GZIP": "maybe"}, "S3_GZIP must be true or false"),
        ({"S3_MAX_ATTEMPTS": "0"}, "S3_MAX_ATTEMPTS must be a whole number of at least 1"),
    ],
)
def test_bad_s3_values_are_refused_by_name(values, start):
    message = refusal(**{**S3, **values})
    assert message.startswith(start), message
    assert "see .env.example" in message


def test_gcs_defaults_are_signed_urls_an_hour_and_application_default_credentials():
    built = storage.default_storage(env_of(**GCS))
    assert built["BACKEND"] == "storages.backends.gcloud.GoogleCloudStorage"
    opts = built["OPTIONS"]
    assert opts["bucket_name"] == "media"
    assert opts["credentials"] is None and opts["project_id"] is None
    # No key file: the VM's or cluster's account signs links through IAM.
    assert opts["iam_sign_blob"] is True
    assert opts["custom_endpoint"] is None
    assert opts["querystring_auth"] is True
    assert opts["expiration"] == timedelta(hours=1)
    assert opts["gzip"] is False and opts["file_overwrite"] is False


def test_gcs_settings_reach_the_options(tmp_path):
    write_key(tmp_path / "key.json")
    opts = options(
        **GCS,
        GCS_CREDENTIALS_FILE=str(tmp_path / "key.json"),
        GCS_PROJECT_ID="shop",
        GCS_CUSTOM_DOMAIN="media.example.com",
        GCS_SIGNED_URLS="false",
        GCS_URL_EXPIRY="120",
        GCS_GZIP="yes",
    )
    assert opts["credentials"].service_account_email == EMAIL
    assert opts["iam_sign_blob"] is False  # the key file signs
    assert opts["project_id"] == "shop"
    assert opts["custom_endpoint"] == "https://media.example.com"
    assert opts["querystring_auth"] is False
    assert opts["expiration"] == timedelta(seconds=120)
    assert opts["gzip"] is True


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({"GCS_BUCKET": ""}, "GCS_BUCKET is empty: STORAGE_BACKEND=gcs needs it"),
        (
            {"GCS_CREDENTIALS_FILE": "/nonexistent/key.json"},
            "GCS_CREDENTIALS_FILE: cannot read '/nonexistent/key.json' (No such file",
        ),
        ({"GCS_URL_EXPIRY": "soon"}, "GCS_URL_EXPIRY must be a whole number of at least 1"),
        ({"GCS_SIGNED_URLS": "2"}, "GCS_SIGNED_URLS must be true or false"),
        ({"GCS_CUSTOM_DOMAIN": "http://cdn"}, "GCS_CUSTOM_DOMAIN must be a host name"),
    ],
)
def test_bad_gcs_values_are_refused_by_name(values, start):
    message = refusal(**{**GCS, **values})
    assert message.startswith(start), message


def test_a_file_that_is_not_a_service_account_key_is_refused(tmp_path):
    (tmp_path / "key.json").write_text('{"type": "authorized_user"}')
    message = refusal(**GCS, GCS_CREDENTIALS_FILE=str(tmp_path / "key.json"))
    assert message.startswith(f"GCS_CREDENTIALS_FILE: '{tmp_path / 'key.json'}' is not a service")


def test_settings_use_the_storage_module():
    code = (
        "from django.core.files.storage import storages\n"
        "s = storages['default']; print(type(s).__name__, s.bucket_name, s.endpoint_url)"
    )
    result = run_django(code, DEBUG="true", **S3, S3_ENDPOINT_URL="http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["S3Storage", "media", "http://127.0.0.1:9"]


def test_django_refuses_to_start_with_a_bad_storage_setting():
    result = run_django("", DEBUG="true", STORAGE_BACKEND="s4")
    assert result.returncode != 0
    assert "ImproperlyConfigured: STORAGE_BACKEND must be one of" in result.stderr
