"""The docker compose command lines, exactly as the driver runs them."""

from pathlib import Path

from driver.compose import Compose
from driver.modes import BY_NAME, compose_files, mode_of_config_files

FILES = (Path("/r/compose.yml"), Path("/r/compose.dev.yml"))


def test_every_command_names_its_files_and_env_file():
    compose = Compose(FILES, Path("/r/.env"))
    assert compose("ps") == [
        "docker", "compose", "--env-file", "/r/.env", "-f", "/r/compose.yml",
        "-f", "/r/compose.dev.yml", "ps",
    ]  # fmt: skip
    assert Compose(FILES[:1])("ps") == ["docker", "compose", "-f", "/r/compose.yml", "ps"]


def test_one_off_exec_and_sql():
    compose = Compose(FILES[:1])
    base = ["docker", "compose", "-f", "/r/compose.yml"]
    assert compose.one_off("migrate", "plan") == [
        *base,
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "migrate",
        "plan",
    ]
    assert compose.one_off("web", "manage", "shell", tty=True) == [
        *base, "run", "--rm", "--no-deps", "web", "manage", "shell",
    ]  # fmt: skip
    # Values of passed variables stay out of argv (the process list).
    assert compose.exec("db", "psql", env=("PGPASSWORD",)) == [
        *base,
        "exec",
        "-T",
        "-e",
        "PGPASSWORD",
        "db",
        "psql",
    ]
    assert compose.sql("app", "postgres", "SELECT 1", "SELECT 2")[-4:] == [
        "-c",
        "SELECT 1",
        "-c",
        "SELECT 2",
    ]
    assert compose.up("db") == [*base, "up", "--detach", "--wait", "db"]
    assert compose.up("--build", profiles=("s3",)) == [
        *base, "--profile", "s3", "up", "--detach", "--wait", "--build",
    ]  # fmt: skip


def test_each_mode_has_its_files_and_the_machines_override(tmp_path):
    assert [f.name for f in compose_files(BY_NAME["prod"], tmp_path)] == ["compose.yml"]
    (tmp_path / "compose.override.yml").write_text("services: {}\n")
    for mode in ("dev", "db", "host"):
        names = [f.name for f in compose_files(BY_NAME[mode], tmp_path)]
        assert names == ["compose.yml", "compose.dev.yml", "compose.override.yml"]


def test_the_running_mode_is_read_from_the_config_files_label():
    assert mode_of_config_files("/r/compose.yml,/r/compose.dev.yml").name == "dev"
    assert mode_of_config_files("/r/compose.yml,/r/compose.override.yml").name == "prod"
    assert mode_of_config_files("") is None
