"""Media in backups: pair names, the command lines, the scripts (run here
with the host's sh and GNU tar on a folder in tmp_path, never Docker), the
archive check, retention by pairs, and backup and restore with a fake runner."""

import io
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from driver import data_commands
from driver.compose import Compose
from driver.console import Refused
from driver.database import Database
from driver.media import (
    INTERRUPTED,
    SWAP_ASIDE,
    SWAP_IN,
    SWAP_REPLACED_LEFT,
    SWAP_STAGING_LEFT,
    SWAP_UNMOVED,
    Contents,
    Media,
    archive_argv,
    archive_name,
    archived,
    discard_argv,
    extracted,
    mismatch,
    read_archive,
    stage_argv,
    stage_script,
    swap_failure,
    swap_script,
)
from driver.modes import PROD
from driver.runner import Done
from fakes import config, has, project_with

COMPOSE = Compose((Path("/r/compose.yml"),))
BASE = ["docker", "compose", "-f", "/r/compose.yml", "run", "--rm", "--no-deps", "-T"]
# A tree of uploads: nested, spaces, dot files, a name like an option, empty.
TREE = {
    "attachments/2026/report 1.pdf": b"%PDF" + bytes(range(256)) * 40,
    "images/a/photo.jpg": b"\xff\xd8" + b"x" * 70_000,
    "name with spaces.txt": b"hello\n",
    ".hidden": b"dot",
    "-dash": b"option-like",
    "empty/nothing.bin": b"",
}


def write_tree(root: Path, tree: dict[str, bytes]) -> None:
    for name, data in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def tar_of(source: Path, target: Path) -> Path:
    """The archive a backup takes: GNU tar of the tree, as archive_argv runs it."""
    with target.open("wb") as out:
        subprocess.run(["tar", "-cf", "-", "-C", str(source), "."], stdout=out, check=True)
    return target


def sh(
    script: str, stdin: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    with open(stdin or "/dev/null", "rb") as data:
        return subprocess.run(
            ["sh", "-c", script], stdin=data, capture_output=True, check=False, env=env
        )


def test_a_media_archive_has_its_dumps_stem():
    assert archive_name("prod-app-20261129T080000Z.dump") == "prod-app-20261129T080000Z.media.tar"
    assert (
        archive_name("dev-shop-20261129T080000Z-pre-restore.dump")
        == "dev-shop-20261129T080000Z-pre-restore.media.tar"
    )


@pytest.mark.parametrize(
    ("web", "backend", "bucket"),
    [({}, "filesystem", ""), ({"STORAGE_BACKEND": " "}, "filesystem", "")]
    + [({"STORAGE_BACKEND": "FileSystem"}, "filesystem", "")]
    + [({"STORAGE_BACKEND": "s3"}, "s3", "s3"), ({"STORAGE_BACKEND": " GCS "}, "gcs", "gcs")],
)
def test_object_storage_is_any_backend_but_filesystem(
    tmp_path, docker_installed, web, backend, bucket
):
    """One reading of STORAGE_BACKEND (settings.py), as the app's; media and
    the dev S3 profile both use it."""
    model = config()
    model["services"]["web"]["environment"].update(web)
    project_, _ = project_with(tmp_path, model)
    assert project_.settings.storage_backend == backend
    assert Media(project_).backend == bucket


def test_the_command_lines_use_the_web_image_in_a_one_off_container():
    assert archive_argv(COMPOSE) == [
        *BASE, "--entrypoint", "tar", "web",
        "-cf", "-", "--warning=no-file-changed", "--warning=no-file-removed",
        "-C", "/srv/media", "--anchored", "--exclude=./.restoring", "--exclude=./.replaced",
        "--exclude=./.uploads", ".",
    ]  # fmt: skip
    assert stage_argv(COMPOSE) == [*BASE, "--entrypoint", "sh", "web", "-c", stage_script()]
    assert discard_argv(COMPOSE) == [
        *BASE, "--entrypoint", "rm", "web", "-rf", "/srv/media/.restoring",
    ]  # fmt: skip
    assert stage_script("/srv/my media").splitlines()[:2] == ["set -eu", "cd '/srv/my media'"]


def test_the_archive_command_line_is_gnu_tars(tmp_path):
    """archive_argv's tar words, run with the host's GNU tar: it takes them,
    leaves the restore's directories out, and the archive reads back."""
    root = tmp_path / "media"
    write_tree(root, {**TREE, ".restoring/x": b"staged", ".replaced/y": b"old"})
    argv = archive_argv(COMPOSE, str(root))
    with (tmp_path / "a.tar").open("wb") as out:
        done = subprocess.run(["tar", *argv[argv.index("web") + 1 :]], stdout=out, check=False)
    assert done.returncode == 0
    assert read_archive(tmp_path / "a.tar") == Contents(len(TREE), sum(map(len, TREE.values())))


@pytest.mark.parametrize(("status", "whole"), [(0, True), (1, True), (2, False), (125, False)])
def test_tar_exit_1_files_changed_while_read_is_a_whole_archive(status, whole):
    assert archived(status) is whole


def test_stage_then_swap_replaces_the_media_with_the_archive_exactly(tmp_path):
    source, root = tmp_path / "source", tmp_path / "media"
    write_tree(source, TREE)
    write_tree(root, {"old.jpg": b"old", ".old-dot": b"x", "old dir/a b": b"y", "-n": b"z"})
    archive = tar_of(source, tmp_path / "a.media.tar")

    staged = sh(stage_script(str(root)), stdin=archive)
    assert staged.returncode == 0, staged.stderr
    assert extracted(staged.stdout.decode()) == read_archive(archive)
    assert read_tree(root)["old.jpg"] == b"old"  # untouched until the swap

    swapped = sh(swap_script(str(root)))
    assert swapped.returncode == 0, swapped.stderr
    assert read_tree(root) == TREE
    assert not (root / ".restoring").exists() and not (root / ".replaced").exists()


def test_a_failed_extraction_removes_the_staging_and_leaves_the_media(tmp_path):
    source, root = tmp_path / "source", tmp_path / "media"
    write_tree(source, TREE)
    write_tree(root, {"old.jpg": b"old"})
    whole = tar_of(source, tmp_path / "whole.tar").read_bytes()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(whole[: len(whole) // 2])
    assert sh(stage_script(str(root)), stdin=truncated).returncode != 0
    assert read_tree(root) == {"old.jpg": b"old"}
    assert not (root / ".restoring").exists()


@pytest.mark.parametrize(
    ("failing", "current", "status", "says"),
    [
        ("mkdir", True, SWAP_UNMOVED, "failed before moving anything: the media are as they were"),
        ("mv", True, SWAP_ASIDE, "failed while moving the current media aside"),
        ("mv", False, SWAP_IN, "failed while moving the restored files in"),
        ("rmdir", True, SWAP_STAGING_LEFT, "the restored files are in place, but"),
        ("rm", True, SWAP_REPLACED_LEFT, "the restored media are in place; only deleting"),
    ],
)
def test_a_failed_swap_says_at_which_step(tmp_path, failing, current, status, says):
    """Each step of the swap exits with its own status, and the message
    says where that leaves each tree (the failing command is a stub on PATH)."""
    source, root, stubs = tmp_path / "source", tmp_path / "media", tmp_path / "bin"
    write_tree(source, TREE)
    write_tree(root, {"old.jpg": b"old"} if current else {})
    root.mkdir(exist_ok=True)
    assert sh(stage_script(str(root)), stdin=tar_of(source, tmp_path / "a.tar")).returncode == 0
    stubs.mkdir()
    (stubs / failing).write_text("#!/bin/sh\nexit 1\n")
    (stubs / failing).chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin"}
    assert sh(swap_script(str(root)), env=env).returncode == status
    assert says in swap_failure(status, str(root))
    if status == SWAP_REPLACED_LEFT:  # everything in place; .replaced alone is left
        assert read_tree(root) == {**TREE, ".replaced/old.jpg": b"old"}


def test_a_swap_failure_the_script_did_not_name_says_so():
    assert swap_failure(1).startswith("the media swap failed (exit 1): /srv/media/.replaced may")


def test_an_interrupted_swap_left_behind_stops_the_next_restore(tmp_path):
    root = tmp_path / "media"
    write_tree(root, {".replaced/old.jpg": b"old", "new.jpg": b"new"})
    archive = tar_of(root, tmp_path / "a.tar")
    assert sh(stage_script(str(root)), stdin=archive).returncode == INTERRUPTED
    assert read_tree(root) == {".replaced/old.jpg": b"old", "new.jpg": b"new"}


def test_an_archive_is_read_on_the_host_files_and_bytes(tmp_path):
    source = tmp_path / "source"
    write_tree(source, TREE)
    (source / "images" / "link.jpg").hardlink_to(source / "images" / "a" / "photo.jpg")
    contents = read_archive(tar_of(source, tmp_path / "a.tar"))
    photo = len(TREE["images/a/photo.jpg"])
    assert contents == Contents(len(TREE) + 1, sum(map(len, TREE.values())) + photo)


@pytest.mark.parametrize(
    "data", [b"", b"not a tar archive" * 64, b"\0" * 10], ids=["empty", "garbage", "zeros"]
)
def test_a_file_that_is_not_a_tar_archive_is_refused(tmp_path, data):
    path = tmp_path / "x.media.tar"
    path.write_bytes(data)
    with pytest.raises(
        Refused, match=r"x\.media\.tar is not a complete tar archive .*Nothing was changed"
    ):
        read_archive(path)


def test_a_truncated_archive_is_refused(tmp_path):
    source = tmp_path / "source"
    write_tree(source, TREE)
    whole = tar_of(source, tmp_path / "whole.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(Refused, match="is not a complete tar archive"):
        read_archive(tmp_path / "cut.tar")


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "./.restoring/x", ".replaced"])
def test_an_archive_naming_paths_outside_the_tree_is_refused(tmp_path, name):
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as archive:
        member = tarfile.TarInfo(name)
        member.size = 3
        archive.addfile(member, io.BytesIO(b"bad"))
    with pytest.raises(Refused, match="outside the media tree"):
        read_archive(path)


def _member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, linkname
    return member


@pytest.mark.parametrize(
    ("member", "says"),
    [
        (_member("./static", tarfile.SYMTYPE, "/etc"), "'./static', a symbolic link"),
        (_member("./a/passwd", tarfile.SYMTYPE, "../../etc/passwd"), "a symbolic link"),
        (_member("./null", tarfile.CHRTYPE), "'./null', a device"),
        (_member("./disk", tarfile.BLKTYPE), "a device"),
        (_member("./pipe", tarfile.FIFOTYPE), "'./pipe', a FIFO"),
        (_member("./shadow", tarfile.LNKTYPE, "/etc/shadow"), "a hard link to '/etc/shadow'"),
        (_member("./later", tarfile.LNKTYPE, "./ok.txt"), "which names no earlier file"),
    ],
    ids=[
        "symlink out",
        "symlink up",
        "char device",
        "block device",
        "fifo",
        "hard link out",
        "hard link ahead",
    ],
)
def test_an_archive_with_links_or_special_files_is_refused(tmp_path, member, says):
    """Only directories, regular files and hard links to files already in
    the archive: GNU tar would extract anything else as it is."""
    path = tmp_path / "crafted.media.tar"
    with tarfile.open(path, "w") as archive:
        archive.addfile(_member("./a", tarfile.DIRTYPE))
        archive.addfile(member)
        ok = tarfile.TarInfo("./ok.txt")
        ok.size = 2
        archive.addfile(ok, io.BytesIO(b"ok"))
    with pytest.raises(Refused) as refused:
        read_archive(path)
    message = str(refused.value)
    assert says in message and message.endswith("(nothing was changed)")
    assert "\n" not in message


def test_a_media_volume_holding_a_symlink_is_no_backup(project, tmp_path):
    """The archive read back after tar is checked alike: a backup a restore
    would refuse is not kept."""
    project_, runner = project
    source = tmp_path / "source"
    write_tree(source, {"a.txt": b"a"})
    (source / "link").symlink_to("/etc/passwd")
    runner.write(has("--entrypoint", "tar"), tar_of(source, tmp_path / "s.tar").read_bytes())
    with pytest.raises(Refused, match="came out unreadable .*'./link', a symbolic link"):
        data_commands._backup_with_media(project_)
    assert [p.suffix for p in (tmp_path / "backups").iterdir()] == [".dump"]


def test_what_was_extracted_must_match_the_archive():
    assert extracted("0\n120\n3\n") == Contents(3, 123)
    assert mismatch(Contents(3, 123), Contents(3, 123)) == ""
    assert mismatch(Contents(3, 123), Contents(2, 120)) == (
        "2 files, 120 bytes were extracted where the archive holds 3 files, 123 bytes"
    )


# -- backup and restore, with a fake runner ------------------------------------------


@pytest.fixture
def tarball(tmp_path) -> bytes:
    write_tree(tmp_path / "source", TREE)
    return tar_of(tmp_path / "source", tmp_path / "source.tar").read_bytes()


def test_a_backup_is_the_dump_then_the_media_archive_of_its_stem(project, tarball, capsys):
    project_, runner = project
    runner.write(has("--entrypoint", "tar"), tarball)
    dump = data_commands._backup_with_media(project_)
    archive = dump.with_name(archive_name(dump.name))
    assert archive.read_bytes() == tarball
    assert archive.stat().st_mode & 0o777 == 0o600
    order = [("pg_dump" in argv, "tar" in argv) for argv in runner.calls]
    assert order.index((True, False)) < order.index((False, True))
    assert f"media backup: {archive} ({len(TREE)} files, " in capsys.readouterr().err


def test_a_failed_media_archive_leaves_no_partial_file_and_says_so(project, tmp_path):
    project_, runner = project
    runner.answer(has("--entrypoint", "tar"), Done(2, "", "tar: ./x: Cannot open"))
    with pytest.raises(Refused, match=r"the media archive failed .*holds the database without"):
        data_commands._backup_with_media(project_)
    (dump,) = (tmp_path / "backups").iterdir()  # the dump is kept; no .partial left
    assert dump.name.endswith(".dump")


@pytest.mark.parametrize("tar", [Done(2), "unreadable"])
def test_a_failed_media_archive_prunes_no_older_backup(project, tmp_path, tar):
    """BACKUP_KEEP=1 and one complete pair: it stays, the only good backup."""
    project_, runner = project
    if tar == "unreadable":
        runner.write(has("--entrypoint", "tar"), b"not a tar")
    else:
        runner.answer(has("--entrypoint", "tar"), tar)
    project_.settings.driver["backup_keep"] = "1"
    (tmp_path / "backups").mkdir()
    pair = ["dev-app-20200101T000000Z.dump", "dev-app-20200101T000000Z.media.tar"]
    for name in pair:
        (tmp_path / "backups" / name).write_bytes(b"old")
    with pytest.raises(Refused, match="without the uploads, and no older backup was removed"):
        data_commands._backup_with_media(project_)
    assert all((tmp_path / "backups" / name).exists() for name in pair)


def test_a_failed_pre_restore_backup_says_nothing_was_restored(restorable, tarball):
    project_, runner, dump = restorable
    dump.with_name(archive_name(dump.name)).write_bytes(tarball)
    runner.answers.insert(0, (has("--entrypoint", "tar"), Done(2)))
    with pytest.raises(Refused) as refused:
        data_commands.restore(project_, [dump.name, "--yes"])
    assert str(refused.value).startswith(
        "the pre-restore backup failed, so nothing was restored: the media archive failed"
    )
    assert "sh run.sh backup again" not in str(refused.value)
    assert not runner.ran("-c", stage_script()) and not runner.ran("--single-transaction")


def test_uploads_changed_during_the_archive_still_make_a_backup(project, tarball, capsys):
    """tar exits 1 (a file changed or went while read): the archive is kept,
    read back and checked like any, and one line says so."""
    project_, runner = project
    runner.answer(has("--entrypoint", "tar"), Done(1))
    runner.write(has("--entrypoint", "tar"), tarball)
    dump = data_commands._backup_with_media(project_)
    archive = dump.with_name(archive_name(dump.name))
    assert archive.read_bytes() == tarball
    err = capsys.readouterr().err
    assert "uploads changed or were removed while tar read them" in err
    assert f"media backup: {archive} ({len(TREE)} files, " in err


def test_tar_exit_1_with_an_unreadable_archive_is_still_refused(project, tmp_path):
    project_, runner = project
    runner.answer(has("--entrypoint", "tar"), Done(1))
    runner.write(has("--entrypoint", "tar"), b"")
    with pytest.raises(Refused, match="came out unreadable"):
        data_commands._backup_with_media(project_)
    assert [p.suffix for p in (tmp_path / "backups").iterdir()] == [".dump"]


def test_an_unreadable_media_archive_is_not_kept(project, tmp_path):
    project_, runner = project
    runner.write(has("--entrypoint", "tar"), b"tar: short read")
    with pytest.raises(
        Refused, match=r"the media archive came out unreadable .*without the uploads"
    ):
        data_commands._backup_with_media(project_)
    assert [p.suffix for p in (tmp_path / "backups").iterdir()] == [".dump"]


def test_object_storage_copies_no_media(tmp_path, docker_installed, capsys):
    model = config()
    model["services"]["web"]["environment"]["STORAGE_BACKEND"] = "s3"
    project_, runner = project_with(tmp_path, model)
    dump = data_commands._backup_with_media(project_)
    assert not runner.ran("--entrypoint", "tar")
    assert list(dump.parent.iterdir()) == [dump]
    assert "media: not copied (STORAGE_BACKEND=s3: uploads are in the bucket" in (
        capsys.readouterr().err
    )


def test_retention_removes_a_dump_and_its_media_archive_together(project, tmp_path, tarball):
    project_, runner = project
    runner.write(has("--entrypoint", "tar"), tarball)
    project_.settings.driver["backup_keep"] = "2"
    backups = tmp_path / "backups"
    backups.mkdir()
    names = [
        "dev-app-20200101T000000Z.dump", "dev-app-20200101T000000Z.media.tar",
        "dev-app-20200102T000000Z-pre-migrate.dump",  # database only: still counts
        "dev-app-20200103T000000Z.dump", "dev-app-20200103T000000Z.media.tar",
    ]  # fmt: skip
    for name in names:
        (backups / name).write_bytes(b"old")
    dump = data_commands._backup_with_media(project_)
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        [names[3], names[4], dump.name, archive_name(dump.name)]
    )


def test_pruning_keeps_the_media_archive_of_the_backup_being_restored(project, tmp_path):
    project_, _ = project
    project_.settings.driver["backup_keep"] = "1"
    (tmp_path / "backups").mkdir()
    kept = tmp_path / "backups" / "dev-app-20200101T000000Z.dump"
    kept.write_bytes(b"old")
    kept.with_name(archive_name(kept.name)).write_bytes(b"old")
    database = Database(project_)
    database.backup("pre-restore")
    database.prune(keep=kept)
    assert kept.exists() and kept.with_name(archive_name(kept.name)).exists()


def test_staging_that_does_not_match_the_archive_is_discarded(project, tmp_path):
    project_, runner = project
    runner.answer(has("--entrypoint", "sh"), Done(0, "5\n"))
    with pytest.raises(Refused, match="1 files, 5 bytes were extracted where .*were not changed"):
        Media(project_).stage(tmp_path / "a.media.tar", Contents(2, 10))
    assert runner.ran("--entrypoint", "rm", "/srv/media/.restoring")


def test_a_failed_extraction_shows_tars_messages_and_discards(project, tmp_path, capsys):
    project_, runner = project
    stderr = "tar: ./a: Cannot write: No space left on device\ntar: Exiting with failure status\n"
    runner.answer(has("--entrypoint", "sh"), Done(2, "", stderr))
    with pytest.raises(Refused, match=r"extraction failed \(exit 2, above\); the media and"):
        Media(project_).stage(tmp_path / "a.media.tar", Contents(2, 10))
    assert stderr.rstrip() in capsys.readouterr().err  # every line, not the last alone
    assert runner.ran("--entrypoint", "rm", "/srv/media/.restoring")


def test_a_swap_left_over_is_named_and_nothing_is_discarded(project, tmp_path):
    project_, runner = project
    runner.answer(has("--entrypoint", "sh"), Done(INTERRUPTED))
    with pytest.raises(Refused, match=r"/srv/media/\.replaced exists .*Nothing was changed"):
        Media(project_).stage(tmp_path / "a.media.tar", Contents(2, 10))
    assert not runner.ran("--entrypoint", "rm")


@pytest.fixture
def restorable(project, tmp_path, tarball):
    """Production, its database existing, a dump that pg_restore accepts, a
    media volume that archives as ``tarball``."""
    project_, runner = project
    runner.write(has("--entrypoint", "tar"), tarball)
    project_.mode, project_.mode_given = PROD, True
    runner.answer(has("pg_restore", "--list"), Done(0, "1; 2 3 TABLE public t app\n"))
    runner.answer(lambda argv: any("FROM pg_tables" in a for a in argv), Done(0, "1\n"))
    runner.answer(lambda argv: any("FROM pg_database" in a for a in argv), Done(0, "1\n"))
    dump = tmp_path / "prod-app-20261129T080000Z.dump"
    dump.write_bytes(b"PGDMP")
    return project_, runner, dump


def test_a_media_archive_that_is_not_tar_is_refused_before_anything(restorable, tmp_path):
    project_, runner, dump = restorable
    dump.with_name(archive_name(dump.name)).write_bytes(b"garbage" * 100)
    with pytest.raises(Refused, match="is not a complete tar archive"):
        data_commands.restore(project_, [dump.name, "--yes"])
    assert not runner.ran("pg_dump") and not runner.ran("--single-transaction")
    assert not (tmp_path / "backups").exists()


def test_restore_stages_media_before_the_database_and_swaps_it_after(restorable, tarball, capsys):
    project_, runner, dump = restorable
    archive = dump.with_name(archive_name(dump.name))
    archive.write_bytes(tarball)
    sizes = "".join(f"{len(data)}\n" for data in TREE.values())
    runner.answer(has("--entrypoint", "sh", "-c", stage_argv(COMPOSE)[-1]), Done(0, sizes))
    assert data_commands.restore(project_, [dump.name, "--yes"]) == 0
    steps = {
        "backup": has("pg_dump"),
        "media backup": has("--entrypoint", "tar"),
        "stage": has("-c", stage_argv(COMPOSE)[-1]),
        "database": has("pg_restore", "--single-transaction"),
        "swap": has("-c", swap_script()),
    }
    assert [n for argv in runner.calls for n, match in steps.items() if match(argv)] == list(steps)
    assert runner.stdins[:3] == [dump, archive, dump]  # checked, staged, then pg_restore
    assert f"media: {len(TREE)} files restored from {archive}" in capsys.readouterr().err


def test_a_dump_without_media_archive_restores_and_leaves_the_media(restorable, capsys):
    project_, runner, dump = restorable
    assert data_commands.restore(project_, [dump.name, "--yes"]) == 0
    assert not runner.ran("-c", swap_script()) and not runner.ran("-c", stage_script())
    assert (
        "no media archive beside it (prod-app-20261129T080000Z.media.tar): media was left as it is"
        in (capsys.readouterr().err)
    )


def test_a_failed_database_restore_discards_the_staged_media(restorable, tarball):
    project_, runner, dump = restorable
    dump.with_name(archive_name(dump.name)).write_bytes(tarball)
    sizes = "".join(f"{len(data)}\n" for data in TREE.values())
    runner.answer(has("--entrypoint", "sh", "-c", stage_script()), Done(0, sizes))
    runner.answer(has("pg_restore", "--single-transaction"), Done(1))
    with pytest.raises(Refused, match="the database and media were not changed"):
        data_commands.restore(project_, [dump.name, "--yes"])
    assert runner.ran("--entrypoint", "rm", "/srv/media/.restoring")
    assert not runner.ran("-c", swap_script())


def test_a_missing_database_still_gets_a_copy_of_the_media_it_replaces(restorable, tarball, capsys):
    """No database to dump: the pre-restore backup is the media alone, with
    the usual name, before anything is staged or swapped."""
    project_, runner, dump = restorable
    dump.with_name(archive_name(dump.name)).write_bytes(tarball)
    runner.answers.insert(0, (lambda argv: any("FROM pg_database" in a for a in argv), Done(0)))
    sizes = "".join(f"{len(data)}\n" for data in TREE.values())
    runner.answer(has("--entrypoint", "sh", "-c", stage_script()), Done(0, sizes))
    assert data_commands.restore(project_, [dump.name, "--yes"]) == 0
    assert not runner.ran("pg_dump")
    (copy,) = (dump.parent / "backups").iterdir()
    assert re.fullmatch(r"prod-app-\d{8}T\d{6}Z-pre-restore\.media\.tar", copy.name)
    assert copy.read_bytes() == tarball
    steps = {"copy": has("--entrypoint", "tar"), "stage": has("-c", stage_script())}
    assert [n for argv in runner.calls for n, match in steps.items() if match(argv)] == list(steps)
    assert "database app does not exist: the pre-restore backup is the media alone" in (
        capsys.readouterr().err
    )


def test_a_missing_database_and_a_failed_media_copy_restore_nothing(restorable, tarball):
    project_, runner, dump = restorable
    dump.with_name(archive_name(dump.name)).write_bytes(tarball)
    runner.answers.insert(0, (lambda argv: any("FROM pg_database" in a for a in argv), Done(0)))
    runner.answers.insert(0, (has("--entrypoint", "tar"), Done(2)))
    with pytest.raises(Refused, match=r"nothing was restored: .*no copy of the media was written"):
        data_commands.restore(project_, [dump.name, "--yes"])
    assert not runner.ran("-c", stage_script()) and not runner.ran("--single-transaction")


def test_a_missing_database_without_media_archive_takes_no_backup(restorable):
    project_, runner, dump = restorable
    runner.answers.insert(0, (lambda argv: any("FROM pg_database" in a for a in argv), Done(0)))
    assert data_commands.restore(project_, [dump.name, "--yes"]) == 0
    assert not runner.ran("--entrypoint", "tar") and not runner.ran("pg_dump")


def test_a_swap_that_fails_at_its_last_step_says_the_media_are_in_place(restorable, tarball):
    project_, runner, dump = restorable
    dump.with_name(archive_name(dump.name)).write_bytes(tarball)
    sizes = "".join(f"{len(data)}\n" for data in TREE.values())
    runner.answer(has("--entrypoint", "sh", "-c", stage_script()), Done(0, sizes))
    runner.answer(has("-c", swap_script()), Done(SWAP_REPLACED_LEFT, "", "rm: cannot remove"))
    with pytest.raises(Refused) as refused:
        data_commands.restore(project_, [dump.name, "--yes"])
    assert str(refused.value) == (
        f"the database was restored from {dump}, but the restored media are in place; only "
        "deleting the media they replaced, /srv/media/.replaced, failed: delete it (the next "
        "media restore refuses while /srv/media/.replaced exists)"
    )
