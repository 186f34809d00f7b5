"""The steps before every command: the env file, the settings, the refusals."""

import pytest

from driver.console import Refused
from driver.modes import PROD
from driver.project import Project
from driver.runner import Done
from fakes import FakeRunner, config, has, project_with


def test_development_creates_env_from_the_example_with_a_fresh_key(
    tmp_path, docker_installed, capsys
):
    (tmp_path / ".env.example").write_text("# Key.\nSECRET_KEY=change-me\nA=1\n")
    project = Project(tmp_path, tmp_path, FakeRunner(tmp_path))
    project.ensure_env_file()
    text = (tmp_path / ".env").read_text()
    assert text.startswith("# Key.\nSECRET_KEY=") and text.endswith("\nA=1\n")
    assert "change-me" not in text
    assert "created .env from .env.example" in capsys.readouterr().err


def test_production_never_creates_an_env_file(tmp_path, docker_installed):
    project = Project(tmp_path, tmp_path, FakeRunner(tmp_path))
    project.mode = PROD
    with pytest.raises(
        Refused, match="no .env: copy .env.example to .env and set its production values"
    ):
        project.prepare()
    assert not (tmp_path / ".env").exists()


def test_an_env_file_named_by_env_file_must_exist(tmp_path, docker_installed):
    runner = FakeRunner(tmp_path)
    runner.env["ENV_FILE"] = "missing.env"
    project = Project(tmp_path, tmp_path / "caller", runner)
    assert project.env_file == tmp_path / "caller" / "missing.env"
    with pytest.raises(Refused, match=r"ENV_FILE .*missing.env does not exist"):
        project.prepare_existing()


def test_production_is_refused_by_the_policy_before_anything_starts(tmp_path, docker_installed):
    model = config()
    model["services"]["db"]["environment"]["POSTGRES_PASSWORD"] = ""
    project, runner = project_with(tmp_path, model)
    project.mode = PROD
    with pytest.raises(Refused, match="POSTGRES_PASSWORD is empty in .env"):
        project.prepare()
    assert not runner.ran("up")


def test_a_backup_schedule_that_does_not_parse_stops_production_in_one_line(
    tmp_path, docker_installed
):
    model = config()
    model["services"]["backup"] = {"environment": {"BACKUP_SCHEDULE": "nightly"}}
    project, runner = project_with(tmp_path, model)
    project.mode = PROD
    with pytest.raises(
        Refused, match=r"BACKUP_SCHEDULE must be HH:MM .* it is 'nightly' \(in .env\)"
    ):
        project.prepare()
    assert not runner.ran("up")


def test_compose_refusals_name_the_setting(tmp_path, docker_installed):
    project, runner = project_with(tmp_path, env_text="WEB_PORT=abc\n")
    runner.answers.insert(0, (has("config"), Done(1, "", "invalid hostPort: abc\n")))
    with pytest.raises(
        Refused, match=r"WEB_PORT is not a valid port number or range \(1-65535\): 'abc'"
    ):
        project.load()


def test_loading_the_settings_exports_the_password_escaped_for_pgadmin(tmp_path, docker_installed):
    model = config()
    model["services"]["db"]["environment"]["POSTGRES_PASSWORD"] = "a:b\\c"
    project, runner = project_with(tmp_path, model)
    project.load()
    assert runner.env["POSTGRES_PASSWORD_PGPASS"] == "a\\:b\\\\c"


def test_the_user_ids_are_the_callers_unless_set(tmp_path, docker_installed):
    project, runner = project_with(tmp_path, env_text="APP_UID=4242\nAPP_GID=\n")
    project.export_user_ids()
    assert "APP_UID" not in runner.env
    assert runner.env["APP_GID"] not in ("", "0")
