"""Where uploads go: Django's STORAGES["default"], from STORAGE_BACKEND.

- ``filesystem`` (the default): MEDIA_ROOT, the mode's media volume.
- ``s3``: Amazon S3 or any S3-compatible provider (Cloudflare R2, Selectel,
  Backblaze B2, SeaweedFS, ...), through django-storages' S3Storage.
- ``gcs``: Google Cloud Storage, through django-storages' GoogleCloudStorage.

Every variable is documented in .env.example ("Object storage"); an empty
one means the default written here. A wrong or missing value raises
ImproperlyConfigured in one line that names the variable. Whether the
bucket answers is checked at start by ``manage.py check_storage``.
"""

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from config import env_values

BACKENDS = {
    "filesystem": "django.core.files.storage.FileSystemStorage",
    "s3": "storages.backends.s3.S3Storage",
    "gcs": "storages.backends.gcloud.GoogleCloudStorage",
}
ADDRESSING_STYLES = ("path", "virtual", "auto")
# Signed URLs (SigV4 for S3, V4 for GCS) live at most 7 days.
MAX_URL_EXPIRY = 7 * 24 * 3600
DEFAULT_URL_EXPIRY = 3600
# botocore's standard retry mode: its own default of 3 attempts.
DEFAULT_MAX_ATTEMPTS = 3
SEE = "(see .env.example, Object storage)"


def backend_name(env: environ.Env) -> str:
    """STORAGE_BACKEND, checked: filesystem, s3 or gcs."""
    return _choice(env, "STORAGE_BACKEND", tuple(BACKENDS), "filesystem")


def default_storage(env: environ.Env) -> dict[str, Any]:
    """STORAGES["default"] for the backend STORAGE_BACKEND names."""
    name = backend_name(env)
    if name == "s3":
        return {"BACKEND": BACKENDS[name], "OPTIONS": s3_options(env)}
    if name == "gcs":
        return {"BACKEND": BACKENDS[name], "OPTIONS": gcs_options(env)}
    return {"BACKEND": BACKENDS[name]}


def s3_options(env: environ.Env) -> dict[str, Any]:
    """S3Storage's options from the S3_* variables."""
    from botocore.config import Config

    endpoint = _url(env, "S3_ENDPOINT_URL")
    access_key = _secret(env, "S3_ACCESS_KEY_ID")
    secret_key = _secret(env, "S3_SECRET_ACCESS_KEY")
    if bool(access_key) != bool(secret_key):
        missing = "S3_SECRET_ACCESS_KEY" if access_key else "S3_ACCESS_KEY_ID"
        raise ImproperlyConfigured(
            f"{missing} is empty while its pair is set: set both S3_ACCESS_KEY_ID and "
            f"S3_SECRET_ACCESS_KEY, or neither (boto3's own credentials: an IAM role) {SEE}"
        )
    # S3-compatible servers need path-style addressing (bucket in the path);
    # AWS picks for itself.
    style = _choice(env, "S3_ADDRESSING_STYLE", ADDRESSING_STYLES, "path" if endpoint else "auto")
    domain = _domain(env, "S3_CUSTOM_DOMAIN")
    # A custom domain (a CDN in front of a public bucket) gets plain URLs:
    # S3's signatures are for the bucket's own host name.
    signed = env_values.boolean(env, "S3_SIGNED_URLS", default=not domain)
    if signed and domain:
        raise ImproperlyConfigured(
            "S3_SIGNED_URLS=true cannot sign S3_CUSTOM_DOMAIN URLs: set S3_SIGNED_URLS=false "
            f"(the bucket is public behind that domain) or empty S3_CUSTOM_DOMAIN {SEE}"
        )
    return {
        "bucket_name": _required(env, "S3_BUCKET"),
        "endpoint_url": endpoint or None,
        "region_name": env.str("S3_REGION", default="").strip() or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "custom_domain": domain or None,
        "querystring_auth": signed,
        "querystring_expire": _expiry(env, "S3_URL_EXPIRY"),
        "gzip": env_values.boolean(env, "S3_GZIP", default=False),
        # A second upload of photo.jpg becomes photo_<random>.jpg, as on disk.
        "file_overwrite": False,
        "signature_version": "s3v4",
        "addressing_style": style,
        # Given a client_config, django-storages takes the signature and
        # addressing style from it alone: they are repeated here.
        "client_config": Config(
            signature_version="s3v4",
            s3={"addressing_style": style},
            retries={
                "mode": "standard",
                "max_attempts": env_values.whole_number(
                    env, "S3_MAX_ATTEMPTS", default=DEFAULT_MAX_ATTEMPTS, minimum=1
                ),
            },
        ),
    }


def gcs_options(env: environ.Env) -> dict[str, Any]:
    """GoogleCloudStorage's options from the GCS_* variables."""
    domain = _domain(env, "GCS_CUSTOM_DOMAIN")
    credentials = _gcs_credentials(env, "GCS_CREDENTIALS_FILE")
    signed = env_values.boolean(env, "GCS_SIGNED_URLS", default=True)
    return {
        "bucket_name": _required(env, "GCS_BUCKET"),
        # None: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
        # or the metadata server of the VM or cluster it runs on).
        "credentials": credentials,
        # Those hold no private key to sign links with: IAM's signBlob API
        # signs them instead (the account needs the Service Account Token
        # Creator role on itself).
        "iam_sign_blob": signed and credentials is None,
        "project_id": env.str("GCS_PROJECT_ID", default="").strip() or None,
        # Signed URLs on a custom domain need a load balancer in front of
        # the bucket (bucket_bound_hostname).
        "custom_endpoint": f"https://{domain}" if domain else None,
        "querystring_auth": signed,
        "expiration": timedelta(seconds=_expiry(env, "GCS_URL_EXPIRY")),
        "gzip": env_values.boolean(env, "GCS_GZIP", default=False),
        "file_overwrite": False,
    }


def _secret(env: environ.Env, name: str) -> str:
    """A value that may come from NAME_FILE; a file's trailing newline goes."""
    try:
        return env.str(name, default="").rstrip("\r\n").strip()
    except OSError as error:
        raise ImproperlyConfigured(
            f"{name}_FILE: cannot read {error.filename!r} ({error.strerror}) {SEE}"
        ) from None


def _required(env: environ.Env, name: str) -> str:
    value = env.str(name, default="").strip()
    if not value:
        backend = env.str("STORAGE_BACKEND", default="").strip()
        raise ImproperlyConfigured(f"{name} is empty: STORAGE_BACKEND={backend} needs it {SEE}")
    return value


def _choice(env: environ.Env, name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.str(name, default="").strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}, got {env.str(name)!r} {SEE}"
        )
    return value


def _url(env: environ.Env, name: str) -> str:
    """An http(s) URL with a host, or empty."""
    value = env.str(name, default="").strip()
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(
                f"{name} must be a URL such as https://s3.example.com, got {value!r} {SEE}"
            )
    return value.rstrip("/")


def _domain(env: environ.Env, name: str) -> str:
    """A host name (and optional port), without a scheme or a path."""
    value = env.str(name, default="").strip()
    if value and ("/" in value or not urlsplit(f"//{value}").hostname):
        raise ImproperlyConfigured(
            f"{name} must be a host name such as cdn.example.com (no https://, no path), "
            f"got {value!r} {SEE}"
        )
    return value


def _expiry(env: environ.Env, name: str) -> int:
    seconds = env_values.whole_number(env, name, default=DEFAULT_URL_EXPIRY, minimum=1)
    if seconds > MAX_URL_EXPIRY:
        raise ImproperlyConfigured(
            f"{name} must be at most {MAX_URL_EXPIRY} seconds (7 days, the longest a signed "
            f"URL may live), got {seconds} {SEE}"
        )
    return seconds


def _gcs_credentials(env: environ.Env, name: str) -> Any:
    """The service account of the JSON key file ``name`` names; None if empty."""
    path = env.str(name, default="").strip()
    if not path:
        return None
    from google.oauth2 import service_account

    try:
        return service_account.Credentials.from_service_account_file(path)
    except OSError as error:
        raise ImproperlyConfigured(
            f"{name}: cannot read {path!r} ({error.strerror}): mount the service account's "
            f"JSON key there (compose.override.yml) {SEE}"
        ) from None
    except ValueError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImproperlyConfigured(
            f"{name}: {path!r} is not a service account's JSON key ({reason}) {SEE}"
        ) from None
