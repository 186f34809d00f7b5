"""Backups and restores: names, retention, quoting and the archive check."""

from datetime import UTC, datetime

import pytest

from driver.console import Refused
from driver.database import (
    Database,
    archive_tables,
    backup_keep,
    backup_name,
    exists_sql,
    ident,
    kept_for_media,
    literal,
    rename_sql,
    to_prune,
)
from driver.modes import PROD
from driver.runner import Done
from fakes import has

WHEN = datetime(2026, 11, 22, 10, 15, 0, tzinfo=UTC)


def test_names_sort_in_time_and_carry_mode_database_and_label():
    assert backup_name("prod", "app", WHEN) == "prod-app-20261122T101500Z.dump"
    assert (
        backup_name("dev", "shop", WHEN, "pre-migrate")
        == "dev-shop-20261122T101500Z-pre-migrate.dump"
    )


def test_retention_keeps_the_newest_of_this_mode_and_database_only():
    names = [
        "prod-app-20261122T101500Z.dump",
        "prod-app-20261122T101501Z-pre-migrate.dump",
        "prod-app-20261122T101502Z.dump",
        "prod-app-20261122T101502Z.dump.partial",
        "prod-application-20261122T101400Z.dump",
        "dev-app-20261122T101300Z.dump",
        "notes.txt",
    ]
    assert to_prune(names, "prod-app-", 2) == ["prod-app-20261122T101500Z.dump"]
    assert to_prune(names, "prod-app-", 0) == []
    assert to_prune(names, "prod-app-", 10) == []


MIGRATES = [f"prod-app-202611{day:02}T000000Z-pre-migrate.dump" for day in range(10, 20)]
PAIR = ["prod-app-20261101T000000Z.dump", "prod-app-20261101T000000Z.media.tar"]


def test_retention_never_removes_the_newest_backup_with_media():
    """Ten deploys that migrate (database-only dumps) do not push out the
    last backup of the uploads; an older pair still goes."""
    older = ["prod-app-20261001T000000Z.dump", "prod-app-20261001T000000Z.media.tar"]
    names = sorted(MIGRATES + PAIR + older)
    assert kept_for_media(names, "prod-app-", 10) == PAIR[0]
    assert to_prune(names, "prod-app-", 10) == [older[0]]
    assert to_prune(names, "prod-app-", 0) == []
    # Among the newest: nothing kept beyond BACKUP_KEEP.
    assert kept_for_media(names, "prod-app-", 11) == ""
    assert to_prune(names, "prod-app-", 11) == [older[0]]
    assert kept_for_media(MIGRATES, "prod-app-", 2) == ""  # no media archive at all


def test_pruning_keeps_the_newest_pair_and_says_why(project, tmp_path, capsys):
    project_, _ = project
    project_.mode, project_.mode_given = PROD, True
    backups = tmp_path / "backups"
    backups.mkdir()
    for name in MIGRATES + PAIR:
        (backups / name).write_bytes(b"old")
    Database(project_).prune()  # BACKUP_KEEP=10
    assert sorted(p.name for p in backups.iterdir()) == sorted(MIGRATES + PAIR)
    assert (
        f"kept {backups / PAIR[0]} beyond BACKUP_KEEP=10: it is the newest backup with a "
        "media archive" in capsys.readouterr().err
    )


@pytest.mark.parametrize("value", ["", "ten", "-1", "2.5"])
def test_backup_keep_must_be_a_whole_number(value):
    with pytest.raises(Refused, match=f"BACKUP_KEEP must be a whole number .*it is '{value}'"):
        backup_keep(value)


def test_sql_quotes_names_and_values():
    assert ident('we"ird') == '"we""ird"'
    assert literal("it's") == "'it''s'"
    assert exists_sql("a'b") == "SELECT 1 FROM pg_database WHERE datname = 'a''b'"
    terminate, rename = rename_sql("app", "app__replaced")
    assert "datname = 'app' AND pid <> pg_backend_pid()" in terminate
    assert rename == 'ALTER DATABASE "app" RENAME TO "app__replaced"'


def test_the_archive_listing_counts_tables_not_their_data():
    listing = (
        ";\n; Archive created at 2026-11-22\n"
        "215; 1259 16386 TABLE public catalog_item app\n"
        "216; 1259 16390 TABLE public django_migrations app\n"
        "3350; 0 16386 TABLE DATA public catalog_item app\n"
        "217; 1259 16385 SEQUENCE public catalog_item_id_seq app\n"
    )
    assert archive_tables(listing) == 2


@pytest.fixture
def old_backup(project, tmp_path):
    """BACKUP_KEEP=1 and one older backup in BACKUP_DIR."""
    project[0].settings.driver["backup_keep"] = "1"
    (tmp_path / "backups").mkdir()
    old = tmp_path / "backups" / "dev-app-20200101T000000Z.dump"
    old.write_text("old")
    return old


def test_a_backup_is_private_named_and_pruned_only_when_asked(project, old_backup):
    project_, runner = project
    database = Database(project_)
    path = database.backup("pre-restore")
    old = old_backup
    assert path.parent == old.parent and path.name.endswith("-pre-restore.dump")
    assert path.stat().st_mode & 0o777 == 0o600
    assert old.exists()  # the caller prunes once the whole backup is in place
    database.prune()
    assert not old.exists() and path.exists()
    (dump,) = runner.ran("pg_dump")
    assert dump[-9:] == ["exec", "-T", "db", "pg_dump", "-U", "app", "-d", "app", "--format=custom"]


def test_a_failed_dump_leaves_no_file(project, tmp_path):
    project_, runner = project
    runner.answer(has("pg_dump"), Done(1))
    with pytest.raises(Refused, match="pg_dump of app failed"):
        Database(project_).backup()
    assert list((tmp_path / "backups").iterdir()) == []


def test_a_file_that_is_not_an_archive_is_refused(project, tmp_path):
    project_, runner = project
    runner.answer(has("pg_restore", "--list"), Done(1))
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"\0" * 10)
    with pytest.raises(Refused, match="is not a pg_dump custom-format archive"):
        Database(project_).check_archive(garbage)


def test_a_restore_that_lacks_tables_is_dropped_and_nothing_is_swapped(project, tmp_path):
    project_, runner = project
    runner.answer(has("pg_restore", "--list"), Done(0, "1; 2 3 TABLE public t app\n"))
    runner.answer(
        lambda argv: any(a.startswith("SELECT count(*) FROM pg_tables") for a in argv),
        Done(0, "0\n"),
    )
    archive = tmp_path / "a.dump"
    archive.write_bytes(b"PGDMP")
    assert Database(project_).restore(archive) is False
    assert not runner.ran("-c", 'ALTER DATABASE "app__restoring" RENAME TO "app"')
    assert runner.ran("-c", 'DROP DATABASE IF EXISTS "app__restoring" WITH (FORCE)')


def test_pruning_never_removes_the_backup_about_to_be_restored(project, old_backup):
    database = Database(project[0])
    database.backup("pre-restore")
    database.prune(keep=old_backup)
    assert old_backup.exists()


def test_a_wrong_backup_keep_is_refused_before_the_dump(project, tmp_path):
    project_, runner = project
    project_.settings.driver["backup_keep"] = "ten"
    with pytest.raises(Refused, match="BACKUP_KEEP must be a whole number"):
        Database(project_).backup()
    assert not runner.ran("pg_dump")
