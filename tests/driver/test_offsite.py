"""Copies off the host (driver/offsite.py), without Docker: the settings,
rclone's and age's command lines, object names and the bucket's retention."""

import io
import tarfile

import pytest

from driver import data_commands, offsite
from driver.compose import Compose
from driver.console import Refused
from driver.modes import PROD
from driver.runner import Done
from fakes import config, has, project_with

KEY = "age1zc20w7sqp3qg8hha48j5x6zfg8pnn42drd36kl8k7tyr7llrjaqsqzd8n2"


def test_no_bucket_no_copies_and_bad_values_name_their_setting():
    assert offsite.target({}) is None
    assert offsite.target({"BACKUP_S3_BUCKET": " "}) is None
    found = offsite.target({"BACKUP_S3_BUCKET": "b", "BACKUP_S3_PREFIX": "/site/"})
    assert found == offsite.Target("b", "site", "")
    with pytest.raises(ValueError, match="BACKUP_S3_BUCKET is the bucket's name alone"):
        offsite.target({"BACKUP_S3_BUCKET": "b/folder"})
    for bad in ("AGE-SECRET-KEY-1ABC", "age1short", KEY.upper()):
        with pytest.raises(ValueError, match="BACKUP_AGE_RECIPIENT must be an age public key"):
            offsite.target({"BACKUP_S3_BUCKET": "b", "BACKUP_AGE_RECIPIENT": bad})


def test_rclone_is_configured_through_its_environment_only():
    env = {
        "BACKUP_S3_ENDPOINT_URL": "http://offsite:8333",
        "BACKUP_S3_REGION": "auto",
        "BACKUP_S3_ACCESS_KEY_ID": "id",
    }
    config = offsite.rclone_env(env, "secret")
    assert config == {
        "RCLONE_CONFIG": "",
        "RCLONE_CONFIG_OFFSITE_TYPE": "s3",
        "RCLONE_CONFIG_OFFSITE_PROVIDER": "Other",
        "RCLONE_CONFIG_OFFSITE_NO_CHECK_BUCKET": "true",
        "RCLONE_CONFIG_OFFSITE_ENDPOINT": "http://offsite:8333",
        "RCLONE_CONFIG_OFFSITE_REGION": "auto",
        "RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID": "id",
        "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY": "secret",
    }
    aws = offsite.rclone_env({}, "")  # no keys: an IAM role
    assert aws["RCLONE_CONFIG_OFFSITE_PROVIDER"] == "AWS"
    assert aws["RCLONE_CONFIG_OFFSITE_ENV_AUTH"] == "true"
    assert "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY" not in aws


def test_command_lines_name_the_object_in_the_folder():
    plain, sealed = offsite.Target("b", "site"), offsite.Target("b", "site", KEY)
    name = "prod-app-20261129T030000Z.dump"
    assert plain.object_name(name) == name
    assert sealed.object_name(name) == name + ".age"
    assert sealed.shown(name + ".age") == f"s3://b/site/{name}.age"
    assert offsite.upload_argv(plain, name, f"/backups/{name}") == [
        "rclone", "copyto", "--quiet", f"/backups/{name}", f"offsite:b/site/{name}",
    ]  # fmt: skip
    assert offsite.upload_argv(sealed, name + ".age") == [
        "rclone", "rcat", "--quiet", f"offsite:b/site/{name}.age",
    ]  # fmt: skip
    assert offsite.encrypt_argv(KEY) == ["age", "--encrypt", "--recipient", KEY]
    assert offsite.decrypt_argv() == ["age", "--decrypt", "--identity", offsite.IDENTITY]
    assert offsite.list_argv(offsite.Target("b", "")) == [
        "rclone", "lsf", "--quiet", "--files-only", "offsite:b/",
    ]  # fmt: skip
    assert offsite.delete_argv(plain, "x")[-1] == "offsite:b/site/x"
    assert offsite.download_argv(plain, "x") == ["rclone", "cat", "--quiet", "offsite:b/site/x"]


def test_a_name_to_restore_is_a_backups_name():
    name = "prod-app-20261129T030000Z-scheduled.dump"
    assert offsite.check_name(name) == name
    assert offsite.check_name(name + ".age") == name
    for bad in (
        "../prod-app-20261129T030000Z.dump",
        "a.dump",
        "prod-app-20261129T030000Z.media.tar",
    ):
        with pytest.raises(ValueError, match="takes a backup's NAME"):
            offsite.check_name(bad)
    objects = [name + ".age", "prod-app-20261128T030000Z.dump"]
    assert offsite.find(objects, name) == name + ".age"
    assert offsite.find(objects, "prod-app-20261128T030000Z.dump") == objects[1]
    assert offsite.find(objects, "prod-app-20261127T030000Z.dump") == ""


def test_the_bucket_keeps_what_backup_dir_keeps():
    objects = [
        "prod-app-20261101T030000Z.dump.age",
        "prod-app-20261101T030000Z.media.tar.age",
        "prod-app-20261102T030000Z.dump.age",
        "prod-app-20261102T030000Z.media.tar.age",
        "prod-app-20261103T030000Z-pre-migrate.dump.age",  # database alone
        "prod-app-20261104T030000Z-pre-migrate.dump",  # before the recipient was set
        "dev-app-20261101T030000Z.dump",  # another mode's: never touched
        "notes.txt",
    ]
    # The two newest are database-only: the newest with media stays too.
    assert offsite.to_delete(objects, "prod-app-", 2) == objects[:2]
    assert offsite.to_delete(objects, "prod-app-", 0) == []
    assert offsite.backups(objects, "prod-app-") == [
        "prod-app-20261104T030000Z-pre-migrate.dump",
        "prod-app-20261103T030000Z-pre-migrate.dump",
        "prod-app-20261102T030000Z.dump",
        "prod-app-20261101T030000Z.dump",
    ]


def test_a_one_off_container_takes_extra_mounts():
    compose = Compose(files=())
    argv = compose.one_off("backup", "python3", volumes=("/k:/run/age-identity:ro",))
    assert argv == [
        "docker", "compose", "run", "--rm", "--no-deps", "-T",
        "--volume", "/k:/run/age-identity:ro", "backup", "python3",
    ]  # fmt: skip


def tar_bytes() -> bytes:
    """A media archive of one file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("./a.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"a"))
    return buffer.getvalue()


# -- the host's side: a one-off container of the backup service (data_commands) -------------


def with_bucket(tmp_path, **backup_env: str):
    model = config()
    model["services"]["backup"] = {"environment": {"BACKUP_S3_BUCKET": "b", **backup_env}}
    return project_with(tmp_path, model)


def test_a_backup_is_uploaded_after_pruning_and_a_failed_upload_is_loud(tmp_path):
    project, runner = with_bucket(tmp_path)
    runner.write(has("--entrypoint", "tar"), tar_bytes())
    dump = data_commands._backup_with_media(project)
    (upload,) = runner.ran("driver.scheduled", "upload")
    assert upload[-6:] == ["backup", "python3", "-m", "driver.scheduled", "upload", dump.name]
    assert "--no-deps" in upload

    runner.answer(has("driver.scheduled", "upload"), Done(1))
    with pytest.raises(
        Refused, match=r"the copy off the host failed \(above\): .* BACKUP_DIR only"
    ):
        data_commands._backup_with_media(project)


def test_no_bucket_no_upload(project, tmp_path):
    project_, runner = project
    runner.write(has("--entrypoint", "tar"), tar_bytes())
    data_commands._backup_with_media(project_)
    assert not runner.ran("driver.scheduled")
    with pytest.raises(Refused, match="BACKUP_S3_BUCKET is not set in .env"):
        data_commands.backup(project_, ["--list-bucket"])


def test_restore_from_the_bucket_downloads_with_the_identity_then_restores(tmp_path):
    project, runner = with_bucket(tmp_path)
    project.mode, project.mode_given = PROD, True
    runner.answer(has("pg_restore", "--list"), Done(0, "1; 2 3 TABLE public t app\n"))
    runner.answer(lambda argv: any("FROM pg_tables" in a for a in argv), Done(0, "1\n"))
    name = "prod-app-20261129T080000Z.dump"
    with pytest.raises(Refused, match="no such age identity file"):
        data_commands.restore(project, ["--from-bucket", name, "--identity", "key.txt", "--yes"])
    assert not runner.ran("driver.scheduled")

    (tmp_path / "key.txt").write_text("AGE-SECRET-KEY-1...\n")
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / name).write_bytes(b"PGDMP")  # what the download writes
    data_commands.restore(project, ["--from-bucket", name, "--identity", "key.txt", "--yes"])
    (fetch,) = runner.ran("driver.scheduled", "fetch")
    assert fetch[-2:] == ["fetch", name]
    assert f"{tmp_path / 'key.txt'}:{offsite.IDENTITY}:ro" in fetch
    assert runner.calls.index(fetch) < runner.calls.index(runner.ran("--single-transaction")[0])

    runner.answer(has("driver.scheduled", "fetch"), Done(1))
    with pytest.raises(Refused, match="the download from the bucket failed"):
        data_commands.restore(project, ["--from-bucket", name, "--yes"])
