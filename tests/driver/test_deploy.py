"""The production deploy's decisions and their order, with Docker faked:
plan first, a backup before any migration, a failed migration rolled back
while the old web keeps serving."""

import re

import pytest

from driver.console import Refused
from driver.deploy import (
    Deploy,
    already_deployed,
    deploy_state_sql,
    gate_warning,
    plan_action,
    print_urls,
    site_lines,
    start_dev,
    uses_dev_s3,
)
from driver.modes import BY_NAME, PROD
from driver.runner import Done
from driver.settings import Settings
from fakes import config, ends, has, project_with, proxy_running

IMAGE = "sha256:0123"
STAMP = f"deployed {IMAGE} with migrations 18:18"


@pytest.mark.parametrize(
    ("state", "skip"),
    [
        (f"{STAMP}|{STAMP}", True),
        (f"{STAMP}|", False),  # a restored or new database: planned anew
        (f"{STAMP}|deployed sha256:other with migrations 18:18", False),
        (None, False),
        ("", False),
    ],
)
def test_the_plan_is_skipped_only_for_this_image_on_this_database(state, skip):
    assert already_deployed(state) is skip


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (0, "none"),
        (10, "migrate"),
        (11, "gate"),
        (12, "breaking"),
        (1, "unknown"),
        (137, "unknown"),
    ],
)
def test_the_plan_status_decides(status, action):
    assert plan_action(status) == action


def test_the_state_query_quotes_the_image_id():
    assert "'deployed it''s with migrations '" in deploy_state_sql("it's")


def test_the_gate_warning_is_taken_from_the_migrate_logs():
    logs = (
        "Operations to perform:\n"
        "WARNING: models have changes with no migration file:\n"
        "  - Add field colour to item\n"
        "Write the migration ... commit it with the model change.\n"
        "Running migrations:\n"
    )
    warning = gate_warning(logs)
    assert warning.startswith("WARNING: models have changes")
    assert warning.endswith("commit it with the model change.")
    assert "Running migrations" not in warning
    assert gate_warning("No migrations to apply.") == ""


@pytest.fixture
def deploy(project):
    project_, runner = project
    project_.mode, project_.mode_given = PROD, True
    runner.answer(has("image", "inspect"), Done(0, IMAGE + "\n"))
    runner.answer(has("pg_restore", "--list"), Done(0, "1; 2 3 TABLE public catalog_item app\n"))
    runner.answer(
        lambda argv: (
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            in argv
        ),
        Done(0, "1\n"),
    )
    runner.answer(
        lambda argv: any(a.startswith("SELECT 1 FROM pg_database") for a in argv), Done(0, "1\n")
    )
    proxy_running(runner)
    return Deploy(project_), runner


def web_running(runner) -> None:
    """A web container in service (slot web), running an older image."""
    runner.answer(has("label=com.docker.compose.service=web"), Done(0, "c0ffee\n"))
    line = "c0ffee\t/proj-web-1\trunning\tsha256:old\t0\thash\tweb\n"
    runner.answer(has("docker", "inspect", "c0ffee"), Done(0, line))


def steps(runner) -> list[str]:
    """The deploy's steps, in order, named by what they run."""
    names = {
        "build": has("build", "web"),
        "db": has("up", "db"),
        "plan": ends("migrate", "plan"),
        "backup": has("pg_dump"),
        "migrate": ends("migrate", "migrate"),
        "restore": has("pg_restore", "--single-transaction"),
        "web": has("up", "--no-deps", "web"),
    }
    return [name for argv in runner.calls for name, match in names.items() if match(argv)]


def test_an_image_already_deployed_on_this_database_skips_the_plan(deploy):
    deploy_, runner = deploy
    runner.answer(has("-c", deploy_state_sql(IMAGE)), Done(0, f"{STAMP}|{STAMP}\n"))
    deploy_.run()
    assert steps(runner) == ["build", "db", "web"]


def test_no_pending_migrations_take_no_backup(deploy, tmp_path):
    deploy_, runner = deploy
    runner.answer(ends("migrate", "plan"), Done(0, ""))
    deploy_.run()
    assert steps(runner) == ["build", "db", "plan", "web"]
    # BACKUP_DIR is made (for the backup service), and stays empty.
    assert not list((tmp_path / "backups").iterdir())


def test_pending_migrations_are_backed_up_then_migrated(deploy, tmp_path):
    deploy_, runner = deploy
    runner.answer(ends("migrate", "plan"), Done(10, "apply catalog.0002_note\n"))
    deploy_.run()
    assert steps(runner) == ["build", "db", "plan", "backup", "migrate", "web"]
    (backup,) = (tmp_path / "backups").iterdir()
    assert re.fullmatch(r"prod-app-\d{8}T\d{6}Z-pre-migrate\.dump", backup.name)
    assert backup.stat().st_mode & 0o077 == 0
    assert not runner.ran("--entrypoint", "tar")  # the database alone: no media archive


def test_the_pre_migrate_backup_prunes_old_backups(deploy, tmp_path):
    deploy_, runner = deploy
    deploy_.project.settings.driver["backup_keep"] = "1"
    (tmp_path / "backups").mkdir()
    old = tmp_path / "backups" / "prod-app-20200101T000000Z-pre-migrate.dump"
    old.write_bytes(b"old")
    runner.answer(ends("migrate", "plan"), Done(10, "apply catalog.0002_note\n"))
    deploy_.run()
    (backup,) = (tmp_path / "backups").iterdir()
    assert backup.name.endswith("-pre-migrate.dump") and backup != old


def test_the_migration_gate_refuses_before_anything_changes(deploy):
    deploy_, runner = deploy
    runner.answer(ends("migrate", "plan"), Done(11))
    with pytest.raises(
        Refused, match=r"deploy refused by the migration gate \(above\); nothing was changed"
    ):
        deploy_.run()
    assert steps(runner) == ["build", "db", "plan"]


def test_migrations_that_break_the_release_in_service_are_refused(deploy):
    deploy_, runner = deploy
    runner.answer(ends("migrate", "plan"), Done(12, "apply catalog.0002_drop\n"))
    with pytest.raises(Refused, match=r"sh run.sh -0 --allow-breaking\. Nothing was changed"):
        deploy_.run()
    assert steps(runner) == ["build", "db", "plan"]


def test_allow_breaking_is_passed_to_the_plan(project):
    project_, runner = project
    project_.mode, project_.mode_given = PROD, True
    proxy_running(runner)
    runner.answer(ends("migrate", "plan", "--allow-breaking"), Done(10, "apply catalog.0002\n"))
    Deploy(project_, allow_breaking=True).run()
    assert runner.ran("migrate", "plan", "--allow-breaking")
    assert runner.ran("migrate", "migrate")


def test_an_unreadable_plan_changes_nothing(deploy):
    deploy_, runner = deploy
    runner.answer(ends("migrate", "plan"), Done(1))
    with pytest.raises(Refused, match=r"could not read the migration plan \(exit 1"):
        deploy_.run()
    assert steps(runner) == ["build", "db", "plan"]


def test_a_failed_migration_is_rolled_back_and_the_old_web_keeps_serving(deploy):
    deploy_, runner = deploy
    web_running(runner)
    runner.answer(ends("migrate", "plan"), Done(10, "apply catalog.0003_fails\n"))
    runner.answer(ends("migrate", "migrate"), Done(1))
    with pytest.raises(Refused) as refused:
        deploy_.run()
    paragraph = str(refused.value)
    assert paragraph.startswith("DEPLOY FAILED: a migration failed (its error is above)")
    assert re.search(r"just before migrating, \S+-pre-migrate\.dump,", paragraph)
    assert "the previous web containers kept serving" in paragraph
    assert re.search(r"left it is in \S+-failed-migrate\.dump\.", paragraph)
    assert steps(runner) == ["build", "db", "plan", "backup", "migrate", "backup", "restore"]


def test_an_external_database_is_migrated_without_a_backup(project):
    project_, runner = project
    project_.mode, project_.mode_given = PROD, True
    model = project_.settings
    model.web["DATABASE_URL"] = "postgres://u:p@elsewhere/db"
    proxy_running(runner)
    runner.answer(ends("migrate", "plan"), Done(10, "apply catalog.0002_note\n"))
    Deploy(project_).run()
    assert steps(runner) == ["build", "db", "plan", "migrate", "web"]


def test_a_failed_build_is_refused(deploy):
    deploy_, runner = deploy
    runner.answer(has("build", "web"), Done(1))
    with pytest.raises(Refused, match=r"an image did not build"):
        deploy_.run()
    assert steps(runner) == ["build"]


def test_a_deploy_that_passed_the_plan_is_recorded_on_the_database(deploy):
    deploy_, runner = deploy
    runner.answer(has("-c", deploy_state_sql(IMAGE)), Done(0, f"{STAMP}|\n"))
    runner.answer(ends("migrate", "plan"), Done(0, ""))
    deploy_.run()
    assert runner.ran("-c", f"COMMENT ON DATABASE \"app\" IS '{STAMP}'")


def test_every_gate_warning_is_shown_even_without_its_closing_line():
    logs = "WARNING: models have changes A\nclosing: commit it with the model change.\nx\nWARNING: models have changes B\ncut short"
    assert gate_warning(logs) == (
        "WARNING: models have changes A\nclosing: commit it with the model change.\n"
        "WARNING: models have changes B\ncut short"
    )


@pytest.mark.parametrize(
    ("site", "https_port", "line"),
    [
        ("localhost", "443", "web:      https://localhost/  (admin"),
        ("example.com, www.example.com", "8443", "web:      https://example.com:8443/  (admin"),
        (":80", "443", "web:      plain HTTP on port 80 for a TLS proxy in front"),
    ],
)
def test_the_printed_url_follows_site_address(site, https_port, line):
    (printed,) = site_lines(site, "80", https_port)
    assert printed.startswith(line)


DEV_S3_WEB = {
    "STORAGE_BACKEND": "S3",
    "S3_ENDPOINT_URL": "http://s3.localhost:8333",
    "S3_BUCKET": "media",
}


@pytest.mark.parametrize(
    ("mode", "backend", "uses"),
    [
        ("dev", "s3", True),
        ("dev", " S3 ", True),
        ("dev", "", False),
        ("dev", "filesystem", False),
        ("dev", "gcs", False),
        ("prod", "s3", False),  # production's S3 is the provider's
        ("db", "s3", False),  # no web container: nothing uploads
    ],
)
def test_the_dev_s3_server_is_for_development_with_s3_uploads(mode, backend, uses):
    settings = Settings(project="p", env_label=".env", web={"STORAGE_BACKEND": backend})
    assert uses_dev_s3(BY_NAME[mode], settings) is uses


def dev_project(tmp_path, web_environment: dict):
    model = config()
    model["services"]["web"]["environment"].update(web_environment)
    project, runner = project_with(tmp_path, model)
    project.mode = BY_NAME["dev"]
    runner.answer(has("up"), Done(0, ""))
    runner.answer(has("logs"), Done(0, ""))
    return project, runner


def test_development_with_s3_uploads_starts_the_s3_profile_and_prints_its_url(tmp_path, capsys):
    project, runner = dev_project(tmp_path, DEV_S3_WEB)
    start_dev(project)
    (up,) = runner.ran("up")
    assert up[up.index("up") - 2 : up.index("up")] == ["--profile", "s3"]
    print_urls(project)
    assert (
        "run.sh: S3:       http://s3.localhost:8333  (bucket media; keys S3_DEV_ACCESS_KEY_ID"
        in capsys.readouterr().err
    )


def test_development_with_filesystem_uploads_starts_no_s3_server(tmp_path, capsys):
    project, runner = dev_project(tmp_path, {"STORAGE_BACKEND": ""})
    start_dev(project)
    (up,) = runner.ran("up")
    assert "--profile" not in up
    print_urls(project)
    assert "S3:" not in capsys.readouterr().err
