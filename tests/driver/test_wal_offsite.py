"""The WAL archive's copy in the bucket (driver/wal_offsite.py, bucket.ArchiveCopy),
without Docker: what is uploaded, deleted and fetched back, with rclone and
age replaced by a fake that keeps the bucket in a dict; and restore
--archive-from-bucket's one-off container."""

import os
from pathlib import Path

import pytest

from driver import bucket, data_commands, offsite, wal_offsite
from driver.console import Refused
from driver.modes import PROD
from driver.runner import Done
from driver.schedule import Status, archive_copy_line, problem, status_lines
from fakes import config, has, project_with

KEY = "age1zc20w7sqp3qg8hha48j5x6zfg8pnn42drd36kl8k7tyr7llrjaqsqzd8n2"
SEGMENT = "archive/db-1/17-1/0000000100000000/000000010000000000000003-abc.gz"
STANZA_1 = {  # a complete stanza: both .info files
    "archive/db-1/archive.info": (10, 1),
    "archive/db-1/archive.info.copy": (10, 1),
    SEGMENT: (100, 1),
    "backup/db-1/backup.info": (20, 1),
    "backup/db-1/backup.info.copy": (20, 1),
    "backup/db-1/20261129-100000F/bundle/1": (500, 1),
    "backup/db-1/20261129-100000F/backup.manifest": (50, 1),
}


def test_a_first_sync_uploads_finished_work_wal_first_and_the_info_files_last():
    local = {
        **STANZA_1,
        "backup/db-1/20261129-100000F/bundle/2.pgbackrest.tmp": (5, 1),
        "backup/db-1/20261129-110000F/bundle/1": (5, 1),  # a base backup still running
        "backup/db-1/backup.history/2026/20261129-100000F.manifest.gz": (9, 1),
        "archive/db-2/archive.info": (10, 1),  # no base backup yet: not complete
    }
    plan = wal_offsite.sync_plan(local, [], {})
    assert plan.uploads == [
        SEGMENT,
        "backup/db-1/20261129-100000F/bundle/1",
        "backup/db-1/backup.history/2026/20261129-100000F.manifest.gz",
        "backup/db-1/20261129-100000F/backup.manifest",
        "archive/db-1/archive.info",
        "archive/db-1/archive.info.copy",
        "backup/db-1/backup.info",
        "backup/db-1/backup.info.copy",
    ]
    assert plan.deletes == []
    assert [len(g) for g in wal_offsite.batches(plan.uploads)] == [1, 2, 1, 4]


def test_files_are_uploaded_once_and_the_info_files_again_when_they_change():
    remote = [p + ".age" for p in STANZA_1]
    assert not wal_offsite.sync_plan(STANZA_1, remote, dict(STANZA_1))
    # Started again: the .info files are sent once more (they may have changed).
    assert wal_offsite.sync_plan(STANZA_1, remote, {}).uploads == [
        p for p in STANZA_1 if wal_offsite.is_info(p)
    ]
    changed = {**STANZA_1, "backup/db-1/backup.info": (30, 2)}
    assert wal_offsite.sync_plan(changed, remote, dict(STANZA_1)).uploads == [
        "backup/db-1/backup.info"
    ]


def test_only_what_the_volume_held_and_expired_goes_from_the_bucket():
    old = "archive/db-1/17-1/0000000100000000/000000010000000000000001-old.gz"
    remote = [
        *STANZA_1,
        old,
        "archive/db-1/17-1/0000000100000000/000000010000000000000002-x.gz",  # never here
        "archive/db-0/archive.info",  # a lost cluster's archive: what a recovery needs
        "backup/db-0/backup.info",
    ]
    plan = wal_offsite.sync_plan(STANZA_1, remote, dict(STANZA_1), before={*STANZA_1, old})
    assert plan.uploads == [] and plan.deletes == [old]
    # An emptied volume, its stanza created again, a base backup taken:
    # the bucket's older files of it stay.
    again = {p: (1, 9) for p in STANZA_1}
    assert wal_offsite.sync_plan(again, remote, {}, before=again).deletes == []


def test_the_copy_runs_as_often_as_the_archive_timeout():
    assert [wal_offsite.interval(t) for t in ("5", "30s", "", "0", "1min", "x")] == [
        5, 30, 60, 60, 60, 60,
    ]  # fmt: skip


def test_fetching_brings_the_stanzas_the_volume_lacks_whole_info_last():
    remote = [p + ".age" for p in STANZA_1] + [
        "archive/db-2/archive.info",  # incomplete in the bucket: left there
    ]
    fetched = wal_offsite.fetch_plan(remote, [])
    assert fetched[-4:] == [p + ".age" for p in STANZA_1 if wal_offsite.is_info(p)]
    assert set(fetched) == {p + ".age" for p in STANZA_1}
    assert wal_offsite.fetch_plan(remote, STANZA_1) == []
    with pytest.raises(ValueError, match="holds part of db-1 and the bucket all of it"):
        wal_offsite.fetch_plan(remote, ["archive/db-1/archive.info"])


# -- bucket.ArchiveCopy, on a real folder, rclone and age faked ----------------------------


class FakeBucket:
    """rclone's copy, delete and lsf, and age, on a dict of objects."""

    def __init__(self, objects: dict[str, bytes] | None = None):
        self.objects = objects or {}
        self.calls: list[list[str]] = []
        self.fail = False

    def run(self, argv: list[str], no_folder_ok: bool = False) -> str:
        self.calls.append(argv)
        if self.fail:
            raise RuntimeError("rclone failed: connection refused")
        if argv[:2] == ["rclone", "lsf"]:
            return "".join(f"{name}\n" for name in sorted(self.objects))
        if argv[0] == "age":  # --decrypt --identity I --output OUT IN
            Path(argv[-2]).write_bytes(Path(argv[-1]).read_bytes().removeprefix(b"age:"))
            return ""
        names = Path(argv[argv.index("--files-from-raw") + 1]).read_text().split()
        if argv[:2] == ["rclone", "delete"]:
            for name in names:
                del self.objects[name]
        elif argv[-1].startswith("offsite:"):  # copy up
            for name in names:
                self.objects[name] = (Path(argv[-2]) / name).read_bytes()
        else:  # copy down
            for name in names:
                (Path(argv[-1]) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(argv[-1]) / name).write_bytes(self.objects[name])
        return ""


def copier(
    tmp_path: Path, fake: FakeBucket, monkeypatch, recipient: str = ""
) -> bucket.ArchiveCopy:
    env = {"BACKUP_S3_BUCKET": "b", "BACKUP_S3_PREFIX": "", "BACKUP_AGE_RECIPIENT": recipient}
    store = bucket.Offsite(env, tmp_path)
    monkeypatch.setattr(store, "run", fake.run)

    def pipe(first, second, stdin, stdout, env):  # age -r KEY | rclone rcat offsite:b/wal/NAME
        if fake.fail:
            raise RuntimeError("rclone failed: connection refused")
        name = second[-1].removeprefix("offsite:b/wal/")
        fake.objects[name] = b"age:" + os.read(stdin, 1 << 20)

    monkeypatch.setattr(bucket, "_pipe", pipe)
    root = tmp_path / "wal"
    root.mkdir(exist_ok=True)
    return bucket.ArchiveCopy(store, root)


def write(root: Path, files: dict) -> None:
    for path in files:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(path.encode())


def test_a_sync_uploads_encrypted_then_deletes_what_expired(tmp_path, monkeypatch):
    fake = FakeBucket()
    copy = copier(tmp_path, fake, monkeypatch, KEY)
    write(copy.root, STANZA_1)
    os.symlink("20261129-100000F", copy.root / "backup/db-1/latest")  # left out
    assert copy.sync() == len(STANZA_1)
    assert fake.objects[SEGMENT + ".age"] == b"age:" + SEGMENT.encode()
    assert set(fake.objects) == {p + ".age" for p in STANZA_1}
    listed = len(fake.calls)
    assert copy.sync() == 0 and len(fake.calls) == listed  # the listing is kept: no call at rest

    (copy.root / SEGMENT).unlink()  # pgBackRest expired it
    copy.sync()
    assert SEGMENT + ".age" not in fake.objects

    fake.fail = True
    (copy.root / "archive/db-1/new.gz").write_bytes(b"new")
    with pytest.raises(RuntimeError, match="connection refused"):
        copy.sync()
    fake.fail = False
    assert copy.sync() == 1  # the bucket is listed again, and the file sent
    assert "archive/db-1/new.gz.age" in fake.objects


def test_without_a_recipient_one_rclone_run_a_group(tmp_path, monkeypatch):
    fake = FakeBucket()
    copy = copier(tmp_path, fake, monkeypatch)
    write(copy.root, STANZA_1)
    assert copy.sync() == len(STANZA_1)
    copies = [c for c in fake.calls if c[:2] == ["rclone", "copy"]]
    assert len(copies) == 4  # WAL, the backup's files, its manifest, the .info files
    assert fake.objects[SEGMENT] == SEGMENT.encode()
    assert copy.sync() == 0


def test_a_fetch_puts_the_missing_stanzas_in_place_decrypted(tmp_path, monkeypatch):
    fake = FakeBucket({p + ".age": b"age:" + p.encode() for p in STANZA_1})
    copy = copier(tmp_path, fake, monkeypatch, KEY)
    monkeypatch.setattr(offsite, "IDENTITY", str(tmp_path / "identity"))
    with pytest.raises(RuntimeError, match="encrypted: give the age identity file"):
        copy.fetch()
    assert not (copy.root / "archive").exists()
    (tmp_path / "identity").write_text("AGE-SECRET-KEY-1...")
    assert copy.fetch() == ["db-1"]
    for path in STANZA_1:
        assert (copy.root / path).read_bytes() == path.encode()
        assert (copy.root / path).stat().st_mode & 0o777 == 0o640
    assert not (copy.root / ".fetch").exists()
    assert copy.fetch() == []  # the volume has it now
    # What the volume has is what the bucket has: the next sync sends the .info files alone.
    assert wal_offsite.sync_plan(copy.local(), fake.objects, {}).uploads == [
        p for p in STANZA_1 if wal_offsite.is_info(p)
    ]


# -- the status, and restore --archive-from-bucket ------------------------------------------


def test_a_failing_copy_is_loud_in_the_status():
    assert archive_copy_line(Status()) == ""
    copied = Status(last_at="t1", dump="d", archive_copied_at="t2")
    assert status_lines(copied)[1] == (
        "WAL archive in the bucket: copied (the last new files at t2)"
    )
    assert not problem(copied)
    failing = Status(last_at="t1", dump="d", archive_error="rclone failed: no route")
    assert problem(failing)
    assert status_lines(failing)[1] == (
        "WAL archive in the bucket: the copy FAILS: rclone failed: no route"
    )


def test_restore_fetches_the_archive_from_the_bucket_before_anything_else(tmp_path):
    model = config()
    model["services"]["backup"] = {"environment": {"BACKUP_S3_BUCKET": "b"}}
    project, runner = project_with(tmp_path, model)
    project.mode, project.mode_given = PROD, True
    runner.answer(has("driver.scheduled", "fetch-archive"), Done(1))
    with pytest.raises(Refused, match="the WAL archive's download from the bucket failed"):
        data_commands.restore(project, ["--time", "latest", "--archive-from-bucket", "--yes"])
    (fetch,) = runner.ran("driver.scheduled", "fetch-archive")
    assert fetch[-2:] == ["fetch-archive", wal_offsite.FETCH_MOUNT]
    assert f"proj_db-prod-wal:{wal_offsite.FETCH_MOUNT}" in fetch
    assert not runner.ran("pgbackrest")  # nothing else ran
