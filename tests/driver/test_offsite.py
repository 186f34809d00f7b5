"""Copies off the host (driver/offsite.py), without Docker: the settings,
rclone's and age's command lines, object names and the bucket's retention."""

import pytest

from driver import offsite
from driver.compose import Compose

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
