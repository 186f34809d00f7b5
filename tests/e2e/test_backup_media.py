"""Backups with media, end to end, on a production stack of its own: the
drill with both volumes deleted (rows and every upload back byte for byte),
a restore over changed media (added files gone, deleted ones back), a
corrupt media archive refused with nothing changed, retention by pairs,
and pre-migrate backups that stay database-only."""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support import changed_env
from tools.throwaway import clean_env, production_settings, run

pytestmark = pytest.mark.e2e

# Uploads of varied sizes (0 bytes to ~1 MB, 12 MB in all), nested
# directories, a name with spaces and a dot file; written by the app user.
WRITE_UPLOADS = r"""
import os, random
random.seed(11)
root = "/srv/media"
paths = ["attachments/2026/11/report %d.pdf" % i for i in range(12)]
paths += ["images/%s/photo-%d.jpg" % ("abc"[i % 3], i) for i in range(24)]
paths += ["top level file with spaces.txt", ".hidden", "empty/nothing.bin"]
for i, rel in enumerate(paths):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    size = 0 if rel.endswith("nothing.bin") else (i % 8) * 140_000 + random.randrange(5000)
    with open(path, "wb") as f:
        f.write(random.randbytes(size))
print(len(paths))
"""
UPLOADS = 39
# Every file under /srv/media with its sha256, and every directory.
LIST_MEDIA = (
    "cd /srv/media && find . -type f -print0 | sort -z | xargs -0r sha256sum"
    " && find . -mindepth 1 -type d | sort"
)


@pytest.fixture(scope="module")
def prod(own_stack):
    own_stack.write_env(**production_settings())
    own_stack.run_sh("-0")
    return own_stack


def in_web(stack, *command: str) -> str:
    """``command`` in the serving web container, as the app user."""
    argv = stack.compose_command("prod", "exec", "-T", stack.web_service(), *command)
    return run(argv, stack.root, clean_env(), True).stdout


def media_listing(stack) -> str:
    return in_web(stack, "sh", "-c", LIST_MEDIA)


def insert_items(stack, prefix: str, count: int = 300) -> None:
    stack.psql(
        "prod",
        "INSERT INTO catalog_item (name, description, created_at) "
        f"SELECT '{prefix} ' || g, md5(g::text), now() FROM generate_series(1, {count}) g",
    )


def rows_checksum(stack) -> str:
    rows = stack.psql("prod", "COPY (SELECT * FROM catalog_item ORDER BY id) TO STDOUT")
    return hashlib.sha256(rows.encode()).hexdigest()


def reported(stderr: str) -> tuple[Path, Path, int]:
    """The dump and the media archive a backup printed, and its file count."""
    dump = re.search(r"run\.sh: backup: (\S+\.dump) \(", stderr)
    media = re.search(r"run\.sh: media backup: (\S+\.media\.tar) \((\d+) files, ", stderr)
    assert dump and media, stderr[-2000:]
    return Path(dump.group(1)), Path(media.group(1)), int(media.group(2))


def backups(stack) -> set[str]:
    return {p.name for p in (stack.root / "backups").iterdir()}


def test_drill_both_volumes_deleted_rows_and_every_upload_come_back(prod):
    assert in_web(prod, "python", "-c", WRITE_UPLOADS).strip() == str(UPLOADS)
    insert_items(prod, "item")
    files_before, rows_before = media_listing(prod), rows_checksum(prod)
    assert files_before.count("\n") > UPLOADS and "top level file with spaces.txt" in files_before

    backup = prod.run_sh("-0", "backup")
    dump, archive, count = reported(backup.stderr)
    assert archive.name == dump.name.removesuffix(".dump") + ".media.tar"
    assert count == UPLOADS and archive.stat().st_size > 10_000_000
    assert archive.stat().st_mode & 0o777 == 0o600
    print(f"backup with media: {backup.seconds:.1f} s, {count} files, {archive.stat().st_size} B")

    # The disaster: both volumes go.
    prod.run_sh("-0", "down")
    volumes = [f"{prod.project}_media-prod-data", f"{prod.project}_db-prod-data"]
    subprocess.run(["docker", "volume", "rm", *volumes], check=True, capture_output=True)
    fresh = prod.run_sh("-0")
    pre_migrate = re.search(r"backup: (\S+-pre-migrate\.dump) \(", fresh.stderr)
    assert pre_migrate, fresh.stderr[-2000:]
    # A deploy's pre-migrate backup is the database alone.
    assert "media backup" not in fresh.stderr
    assert not Path(pre_migrate.group(1).removesuffix(".dump") + ".media.tar").exists()
    assert in_web(prod, "find", "/srv/media", "-type", "f").strip() == ""  # no upload left
    assert prod.psql("prod", "SELECT count(*) FROM catalog_item") == "0"

    restore = prod.run_sh("-0", "restore", str(dump), "--yes")
    print(f"restore with media: {restore.seconds:.1f} s")
    assert f"media: {UPLOADS} files restored from {archive}" in restore.stderr
    assert media_listing(prod) == files_before  # byte for byte, nothing left over
    assert rows_checksum(prod) == rows_before
    assert re.search(r"-pre-restore\.media\.tar", " ".join(backups(prod)))


# After a backup: one file added (in a new directory too), one deleted, a
# dot file changed and one added.
CHANGE_MEDIA = (
    "cd /srv/media && echo new > 'images/a/added after backup.jpg'"
    " && mkdir -p stale/dir && echo x > stale/dir/file"
    " && rm 'attachments/2026/11/report 3.pdf'"
    " && echo changed > .hidden && echo dot > .new-dot"
)


def test_a_restore_over_existing_media_puts_back_exactly_the_backed_up_tree(prod):
    before = media_listing(prod)
    dump, archive, count = reported(prod.run_sh("-0", "backup").stderr)
    assert count == UPLOADS and "report 3.pdf" in before
    in_web(prod, "sh", "-c", CHANGE_MEDIA)
    changed = media_listing(prod)
    assert "added after backup.jpg" in changed and "report 3.pdf" not in changed
    assert changed != before

    restore = prod.run_sh("-0", "restore", str(dump), "--yes")
    assert f"media: {UPLOADS} files restored from {archive}" in restore.stderr
    after = media_listing(prod)  # every path and sha256, and every directory
    assert after == before
    assert "added after backup" not in after and "stale" not in after and ".new-dot" not in after
    assert "report 3.pdf" in after
    # The pre-restore backup holds the media as they were changed.
    pre_restore = re.search(r"media backup: (\S+-pre-restore\.media\.tar) \(", restore.stderr)
    assert pre_restore, restore.stderr[-2000:]
    assert (
        "./images/a/added after backup.jpg"
        in subprocess.run(
            ["tar", "-tf", pre_restore.group(1)], capture_output=True, text=True, check=True
        ).stdout
    )


def test_a_corrupt_media_archive_is_refused_and_nothing_changes(prod, tmp_path):
    files_before, rows_before, kept = media_listing(prod), rows_checksum(prod), backups(prod)
    dump = max((prod.root / "backups").glob("prod-app-*Z.dump"))
    for name, spoil in (
        ("garbage", lambda data: b"not a tar at all" * 100),
        ("truncated", lambda data: data[: len(data) // 2]),
    ):
        copy = tmp_path / f"{name}.dump"
        shutil.copy(dump, copy)
        archive = dump.with_name(dump.name.removesuffix(".dump") + ".media.tar")
        (tmp_path / f"{name}.media.tar").write_bytes(spoil(archive.read_bytes()))
        result = prod.run_sh("-0", "restore", str(copy), "--yes", check=False)
        assert result.returncode == 1, name
        last = result.stderr.strip().splitlines()[-1]
        assert f"{name}.media.tar is not a complete tar archive" in last, last
        assert "Nothing was changed" in last
    assert media_listing(prod) == files_before
    assert rows_checksum(prod) == rows_before
    assert backups(prod) == kept  # refused before even the pre-restore backup


def test_retention_removes_a_dump_and_its_media_archive_together(prod):
    with changed_env(prod, BACKUP_KEEP="2"):
        written = [reported(prod.run_sh("-0", "backup").stderr) for _ in range(3)]
    names = backups(prod)
    stems = {n.removesuffix(".dump") for n in names if n.endswith("Z.dump")}
    assert stems == {dump.name.removesuffix(".dump") for dump, _, _ in written[1:]}
    for dump, archive, _ in written[1:]:
        assert dump.exists() and archive.exists()
    assert not written[0][0].exists() and not written[0][1].exists()
    # Backups of other kinds count too; their media archives went with them.
    assert not [
        n
        for n in names
        if n.endswith(".media.tar") and n.removesuffix(".media.tar") + ".dump" not in names
    ]
