"""manage.py check_storage: the start-up check of the storage of uploads
(the bucket side against real servers: test_storage_gcs.py, and the dev
stack's SeaweedFS in tests/e2e/test_object_storage.py)."""

import time

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from django_process import run_django
from tools.throwaway import free_port

CHECK = "from django.core.management import call_command; call_command('check_storage')"


def test_a_writable_media_root_passes(settings, tmp_path, capsys):
    settings.MEDIA_ROOT = tmp_path
    call_command("check_storage")
    assert capsys.readouterr().out == f"storage: filesystem, {tmp_path}: ok\n"
    assert list(tmp_path.iterdir()) == []  # its test file is gone


def test_the_upload_spool_is_made_when_missing(settings, tmp_path):
    # A media volume made before .uploads existed in the image.
    settings.MEDIA_ROOT = tmp_path
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / ".uploads")
    call_command("check_storage", verbosity=0)
    assert [p.name for p in tmp_path.iterdir()] == [".uploads"]
    assert list((tmp_path / ".uploads").iterdir()) == []


def test_an_unwritable_upload_spool_fails_naming_it(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.FILE_UPLOAD_TEMP_DIR = "/proc/uploads"
    with pytest.raises(CommandError) as caught:
        call_command("check_storage")
    assert str(caught.value).startswith("FILE_UPLOAD_TEMP_DIR /proc/uploads is not writable")


def test_a_missing_media_root_fails_naming_it_and_the_volume(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "absent"
    with pytest.raises(CommandError) as caught:
        call_command("check_storage")
    assert str(caught.value) == (
        f"STORAGE_BACKEND=filesystem: MEDIA_ROOT {tmp_path / 'absent'} does not exist — "
        "mount the media volume there (compose.yml: media-prod-data; dev: media-dev-data)"
    )


def test_a_media_root_nobody_may_write_to_fails_naming_it(settings):
    # Not even root may create a file in /proc: the check must try to write,
    # not trust the permission bits.
    settings.MEDIA_ROOT = "/proc"
    with pytest.raises(CommandError) as caught:
        call_command("check_storage")
    assert str(caught.value).startswith(
        "STORAGE_BACKEND=filesystem: MEDIA_ROOT /proc is not writable"
    )


def test_an_unreachable_s3_endpoint_fails_quickly_naming_the_setting():
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    result = run_django(
        CHECK,
        DEBUG="true",
        STORAGE_BACKEND="s3",
        S3_BUCKET="media",
        S3_ENDPOINT_URL=endpoint,
        S3_ACCESS_KEY_ID="id",
        S3_SECRET_ACCESS_KEY="secret",
    )
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"django.core.management.base.CommandError: STORAGE_BACKEND=s3: bucket 'media' at {endpoint}: Could not connect"
    )
    assert last.endswith("— check S3_ENDPOINT_URL and that the server is up")


def test_no_access_keys_fail_naming_the_settings():
    result = run_django(
        CHECK,
        DEBUG="true",
        STORAGE_BACKEND="s3",
        S3_BUCKET="media",
        S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        # boto3 would otherwise ask the EC2 metadata address for a role.
        AWS_EC2_METADATA_DISABLED="true",
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            ": no access keys — set S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY "
            "(development: S3_DEV_ACCESS_KEY_ID / S3_DEV_SECRET_ACCESS_KEY)"
        )
    )


@pytest.mark.django_db
def test_a_servers_start_checks_wait_for_the_database_then_check_storage(
    settings, tmp_path, capsys
):
    settings.MEDIA_ROOT = tmp_path
    call_command("start_checks")
    assert capsys.readouterr().out == f"storage: filesystem, {tmp_path}: ok\n"


@pytest.mark.django_db
def test_start_checks_make_the_spool_before_djangos_checks_would_refuse_it(settings, tmp_path):
    # As after a restore, whose media tree has no .uploads: manage.py runs
    # system checks first unless the command opts out (files.E001).
    settings.MEDIA_ROOT = tmp_path
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / ".uploads")
    ManagementUtility(["manage.py", "start_checks"]).execute()  # as entrypoint.sh runs it
    assert (tmp_path / ".uploads").is_dir()
