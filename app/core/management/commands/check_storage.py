"""Fail at start, in one line, when uploads could not be stored.

One cheap question to the storage STORAGE_BACKEND names (config/storage.py):
the filesystem's MEDIA_ROOT must be a directory this user can write to; an
S3 bucket must answer HEAD with the keys given; a GCS bucket must list (at
most one name) with the service account given. gunicorn's master runs it
after wait_for_db (docker/gunicorn.conf.py), entrypoint.sh before
runserver: a release whose storage is wrong never gets ready.
"""

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.storage import BACKENDS

# Seconds to connect and to read the answer: a bucket that does not answer
# fails the start quickly instead of holding it.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10


class Command(BaseCommand):
    help = "Check that uploads can be stored (STORAGE_BACKEND); fail in one line if not."

    def handle(self, *args, **options):
        backend = settings.STORAGES["default"]["BACKEND"]
        name = {path: name for name, path in BACKENDS.items()}.get(backend)
        if name is None:
            self.stdout.write(f"storage: {backend} is not one this command knows: not checked")
            return
        _check_upload_spool()
        check = {"filesystem": _check_filesystem, "s3": _check_s3, "gcs": _check_gcs}[name]
        where = check()
        if options["verbosity"] >= 1:
            self.stdout.write(f"storage: {name}, {where}: ok")


def _check_upload_spool() -> None:
    """FILE_UPLOAD_TEMP_DIR, where uploads over 2.5 MB are spooled (whatever
    the backend): made when missing (a media volume older than it), and
    writable."""
    spool = settings.FILE_UPLOAD_TEMP_DIR
    if not spool:
        return
    try:
        Path(spool).mkdir(exist_ok=True)
    except OSError as error:
        problem = error.strerror
    else:
        problem = _write_problem(Path(spool))
    if problem:
        raise CommandError(
            f"FILE_UPLOAD_TEMP_DIR {spool} is not writable by uid {os.getuid()} "
            f"({problem}), so uploads over 2.5 MB would fail — it is on the media "
            "volume, which must belong to that user"
        )


def _check_filesystem() -> str:
    root = Path(settings.MEDIA_ROOT)
    volume = "mount the media volume there (compose.yml: media-prod-data; dev: media-dev-data)"
    if not root.is_dir():
        raise CommandError(
            f"STORAGE_BACKEND=filesystem: MEDIA_ROOT {root} does not exist — {volume}"
        )
    problem = _write_problem(root)
    if problem:
        raise CommandError(
            f"STORAGE_BACKEND=filesystem: MEDIA_ROOT {root} is not writable by uid "
            f"{os.getuid()} ({problem}) — {volume}, owned by that user"
        )
    return str(root)


def _write_problem(directory: Path) -> str:
    """Why this user cannot create a file in ``directory`` ('' if it can):
    tried, not read off the permission bits."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".check_storage-"):
            return ""
    except OSError as error:
        return error.strerror or str(error)


def _check_s3() -> str:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    options = settings.STORAGES["default"]["OPTIONS"]
    bucket = options["bucket_name"]
    where = options["endpoint_url"] or f"AWS ({options['region_name'] or 'default region'})"
    prefix = f"STORAGE_BACKEND=s3: bucket {bucket!r} at {where}"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=options["endpoint_url"],
        region_name=options["region_name"],
        aws_access_key_id=options["access_key"],
        aws_secret_access_key=options["secret_key"],
        config=options["client_config"].merge(
            Config(
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                retries={"mode": "standard", "max_attempts": 2},
            )
        ),
    )
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        meta = error.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode", 0)
        reason = error.response.get("Error", {}).get("Message") or _http_reason(status)
        raise CommandError(f"{prefix}: {status} {reason} — {_s3_fix(status)}") from None
    except NoCredentialsError:
        raise CommandError(
            f"{prefix}: no access keys — set S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY "
            "(development: S3_DEV_ACCESS_KEY_ID / S3_DEV_SECRET_ACCESS_KEY)"
        ) from None
    except BotoCoreError as error:
        raise CommandError(
            f"{prefix}: {error} — check S3_ENDPOINT_URL and that the server is up"
        ) from None
    finally:
        client.close()  # gunicorn forks its workers next: no socket left open
    return f"{bucket} at {where}"


def _s3_fix(status: int) -> str:
    if status in (401, 403):
        return (
            "check S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY (they need to list, read, write "
            "and delete objects in the bucket)"
        )
    if status == 404:
        return "check S3_BUCKET (create the bucket at your provider first)"
    if status in (301, 307, 400):
        return "check S3_REGION (the bucket's region) and S3_ENDPOINT_URL"
    return "check S3_ENDPOINT_URL and the provider's status"


def _http_reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _check_gcs() -> str:
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError
    from google.cloud.storage import Client

    options = settings.STORAGES["default"]["OPTIONS"]
    bucket = options["bucket_name"]
    prefix = f"STORAGE_BACKEND=gcs: bucket {bucket!r}"
    credentials = "check GCS_CREDENTIALS_FILE (the service account's JSON key)"
    client = None
    try:
        # A client of its own, closed below: gunicorn forks its workers next.
        client = Client(project=options["project_id"], credentials=options["credentials"])
        # Listing needs only the object permissions uploads need anyway.
        list(client.list_blobs(bucket, max_results=1, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)))
    except exceptions.NotFound:
        raise CommandError(f"{prefix}: 404 Not Found — check GCS_BUCKET") from None
    except (exceptions.Forbidden, exceptions.Unauthorized) as error:
        raise CommandError(
            f"{prefix}: {error.code} {error.message} — {credentials} "
            "(it needs the Storage Object Admin role on the bucket)"
        ) from None
    except GoogleAuthError as error:
        raise CommandError(f"{prefix}: {_first_line(error)} — {credentials}") from None
    except (exceptions.GoogleAPIError, OSError) as error:
        raise CommandError(
            f"{prefix}: {_first_line(error)} — is Google Cloud Storage reachable?"
        ) from None
    finally:
        if client is not None:
            client.close()
    return bucket


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
