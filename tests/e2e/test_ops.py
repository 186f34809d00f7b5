"""Operations end to end, on a production stack of its own: the backup and
restore drill, migrations that roll back, the migration gate, concurrent
migrate, doctor and the ops commands."""

import hashlib
import re
import secrets
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from support import add_fixture_migrations, changed_env, item_names
from tools.throwaway import COMMAND_TIMEOUT, THROUGH_PROXY, clean_env, production_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ops(own_stack):
    own_stack.write_env(**production_settings())
    own_stack.run_sh("-0")
    return own_stack


def seed_items(stack, count: int) -> None:
    stack.psql(
        "prod",
        "INSERT INTO catalog_item (name, description, created_at) "
        f"SELECT 'item ' || g, md5(random()::text), now() FROM generate_series(1, {count}) g",
    )


def table_checksum(stack, table: str = "catalog_item") -> str:
    rows = stack.psql("prod", f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT")
    return hashlib.sha256(rows.encode()).hexdigest()


def schema_state(stack) -> tuple[str, str]:
    """The public tables and the applied migrations, in order."""
    tables = stack.psql(
        "prod",
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
        "WHERE schemaname = 'public'",
    )
    migrations = stack.psql(
        "prod", "SELECT string_agg(app || '.' || name, ',' ORDER BY id) FROM django_migrations"
    )
    return tables, migrations


def backup_files(stack) -> set[Path]:
    return set((stack.root / "backups").glob("*.dump"))


def reported_backup(stderr: str) -> Path:
    match = re.search(r"backup: (\S+\.dump) \(", stderr)
    assert match, f"no backup reported in:\n{stderr[-2000:]}"
    return Path(match.group(1))


def web_container(stack) -> str:
    """The id of the serving web container (slot web or web-alt)."""
    return stack.compose("prod", "ps", "-q", stack.web_service()).stdout.strip()


def doctor_lines(stack, *args: str) -> tuple[int, list[str]]:
    result = stack.run_sh(*args, "doctor", check=False)
    return result.returncode, result.stdout.splitlines()


def test_backup_wipe_restore_drill(ops):
    seed_items(ops, 500)
    before = table_checksum(ops)

    result = ops.run_sh("-0", "backup")
    backup = reported_backup(result.stderr)
    assert re.fullmatch(r"prod-app-\d{8}T\d{6}Z\.dump", backup.name)
    assert backup.stat().st_size > 0

    # Destroy the data on purpose: the volume itself goes.
    ops.run_sh("-0", "down")
    subprocess.run(
        ["docker", "volume", "rm", f"{ops.project}_db-prod-data"], check=True, capture_output=True
    )
    redeploy = ops.run_sh("-0")
    assert "pre-migrate.dump" in redeploy.stderr  # a fresh database has pending migrations
    assert ops.psql("prod", "SELECT count(*) FROM catalog_item") == "0"

    restore = ops.run_sh("-0", "restore", str(backup), "--yes")
    assert "restored" in restore.stderr
    assert table_checksum(ops) == before
    response = requests.get(
        ops.url("prod", "/api/items/?limit=500"), headers=THROUGH_PROXY, timeout=10
    )
    assert response.status_code == 200
    assert "item 500" in item_names(response)


def test_deploy_without_pending_migrations_takes_no_backup(ops):
    before = backup_files(ops)
    result = ops.run_sh("-0")
    assert "no pending migrations" in result.stderr
    assert backup_files(ops) == before


def test_backup_keeps_the_newest_backup_keep_files(ops):
    with changed_env(ops, BACKUP_KEEP="2"):
        written = [reported_backup(ops.run_sh("-0", "backup").stderr) for _ in range(3)]
    kept = sorted((ops.root / "backups").glob("prod-app-*.dump"))
    assert kept == sorted(written[1:])


def test_restore_refuses_a_garbage_file_and_leaves_the_database_untouched(ops, tmp_path):
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(secrets.token_bytes(4096))
    before = table_checksum(ops)
    result = ops.run_sh("-0", "restore", str(garbage), "--yes", check=False)
    assert result.returncode == 1
    assert "is not a pg_dump custom-format archive" in result.stderr.strip().splitlines()[-1]
    assert table_checksum(ops) == before
    assert requests.get(ops.url("prod", "/readyz"), timeout=10).status_code == 200


def test_restore_needs_the_typed_confirmation(ops):
    backup = max(backup_files(ops))
    before = backup_files(ops)
    result = ops.run_sh("-0", "restore", str(backup), check=False)  # stdin: /dev/null
    assert result.returncode == 1
    assert "confirmation did not match; nothing was changed" in result.stderr
    assert backup_files(ops) == before  # not even the pre-restore backup was taken


def test_failed_migration_restores_the_database_and_the_old_web_keeps_serving(ops):
    checksum, state, web = table_checksum(ops), schema_state(ops), web_container(ops)
    added = add_fixture_migrations(ops, "0100_fixture_note.py", "0101_fixture_fails.py")
    try:
        result = ops.run_sh("-0", check=False)
    finally:
        for path in added:
            path.unlink()
    assert result.returncode == 1
    assert re.search(r"Applying catalog\.0100_fixture_note\.\.\.\s*OK", result.stdout)
    paragraph = result.stderr.strip().splitlines()[-1]
    assert paragraph.startswith("run.sh: DEPLOY FAILED: a migration failed")
    backup = Path(re.search(r"just before migrating, (\S+\.dump),", paragraph).group(1))
    assert backup.is_file()
    assert "previous web containers kept serving" in paragraph

    assert table_checksum(ops) == checksum
    assert schema_state(ops) == state  # catalog_fixture_note is gone again
    assert web_container(ops) == web
    assert (
        requests.get(ops.url("prod", "/api/items/"), headers=THROUGH_PROXY, timeout=10).status_code
        == 200
    )
    assert requests.get(ops.url("prod", "/readyz"), timeout=10).status_code == 200


def test_gate_refuses_models_without_their_migration(ops):
    models = ops.root / "app" / "catalog" / "models.py"
    original = models.read_text()
    state = schema_state(ops)
    models.write_text(
        original.replace(
            "    name = models.CharField(",
            '    colour = models.CharField(max_length=20, default="")\n    name = models.CharField(',
            1,
        )
    )
    assert models.read_text() != original
    try:
        result = ops.run_sh("-0", check=False)
    finally:
        models.write_text(original)
    assert result.returncode == 1
    assert "models have changes with no migration file" in result.stderr
    assert "Add field colour to item" in result.stderr
    assert "deploy refused by the migration gate" in result.stderr.strip().splitlines()[-1]
    assert schema_state(ops) == state


def test_psql_and_shell_commands(ops):
    assert "42" in ops.run_sh("-0", "psql", "-tAc", "SELECT 41 + 1").stdout
    code = "from catalog.models import Item; print('items:', Item.objects.count())"
    assert re.search(r"items: \d+", ops.run_sh("-0", "shell", "-c", code).stdout)


def test_doctor_passes_on_a_healthy_production_setup(ops):
    code, lines = doctor_lines(ops, "-0")
    assert code == 0, lines
    assert any(line.startswith("✓ production settings") for line in lines)
    assert not any(line.startswith("✗") for line in lines)


def test_doctor_finds_a_stale_database_password(ops):
    with changed_env(ops, POSTGRES_PASSWORD=secrets.token_urlsafe(24)):
        code, lines = doctor_lines(ops, "-0")
    assert code == 1
    assert any(
        "✗ database password: the volume was initialised with another" in line for line in lines
    )


def test_doctor_and_up_find_a_port_in_use(ops):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with changed_env(ops, HTTP_PORT=str(port)):
            code, lines = doctor_lines(ops, "-0")
            up = ops.run_sh("-0", check=False)
    assert code == 1
    assert any(f"✗ port {port} (HTTP_PORT) is already in use" in line for line in lines)
    assert up.returncode == 1
    assert f"port {port} (HTTP_PORT) is already in use" in up.stderr.strip().splitlines()[-1]


def test_doctor_finds_crlf_line_endings(ops):
    script = ops.root / "entrypoint.sh"
    original = script.read_bytes()
    script.write_bytes(original.replace(b"\n", b"\r\n"))
    try:
        code, lines = doctor_lines(ops, "-0")
    finally:
        script.write_bytes(original)
    assert code == 1
    assert any(line.startswith("✗ CRLF line endings in: entrypoint.sh") for line in lines)


def test_doctor_finds_a_missing_env_file(ops):
    env_file = ops.root / ".env"
    moved = env_file.rename(ops.root / "env.moved")
    try:
        code, lines = doctor_lines(ops)
    finally:
        moved.rename(env_file)
    assert code == 1
    assert any(line.startswith("✗ .env: missing") for line in lines)


def test_concurrent_migrations_take_turns(ops):
    added = add_fixture_migrations(ops, "0100_fixture_slow.py")
    try:
        ops.compose("prod", "build", "web")
        command = ops.compose_command(
            "prod", "run", "--rm", "--no-deps", "-T", "migrate", "migrate"
        )
        runs = [
            subprocess.Popen(
                command,
                cwd=ops.root,
                env=clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=COMMAND_TIMEOUT)[0] for run in runs]
    finally:
        for path in added:
            path.unlink()
    assert [run.returncode for run in runs] == [0, 0], outputs
    applied = [
        o for o in outputs if re.search(r"Applying catalog\.0100_fixture_slow\.\.\.\s*OK", o)
    ]
    waited = [out for out in outputs if "another migrate holds the migration lock" in out]
    assert len(applied) == 1, outputs
    assert len(waited) == 1, outputs
    assert "No migrations to apply" in waited[0]
    count = ops.psql(
        "prod", "SELECT count(*) FROM django_migrations WHERE name = '0100_fixture_slow'"
    )
    assert count == "1"
