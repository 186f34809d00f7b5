"""Faults on the production stack: crashes, kills and restarts, each followed
by recovery without a manual step; a database that cannot be reached at start
gives a bounded wait, one clear line and a non-zero exit.

The module has its own throwaway project (its crashes never disturb the stack
of test_dev.py and test_prod.py). Every request and command has a timeout.
Requests go through the proxy, as visitors' do; web's own liveness, which
the proxy cannot show while no web is ready (it answers 503 to everything
then), is asked at the web container's address. Web is whichever slot
(web or web-alt) serves.

A crash is a SIGKILL of the container's main process from the host, as the
kernel's OOM killer or a segfault would do it. `docker kill` is not one: the
daemon records it as an operator's stop, and `unless-stopped` (like `always`)
then leaves the container down (https://github.com/moby/moby/issues/26087);
test_docker_kill_of_the_db_is_an_operator_stop shows what that looks like.
"""

import json
import subprocess
import threading

import pytest
import requests

from support import changed_env, item_names, wait_for
from tools.throwaway import THROUGH_PROXY, clean_env, production_settings

pytestmark = pytest.mark.e2e

REQUEST_TIMEOUT = 30
RECOVERY_TIMEOUT = 180
GUNICORN_TIMEOUT = 20
WORKERS = 2

# Writes through Django (the ORM in the web container, as a view would), one
# row per attempt with a unique name, printing "acked NAME" only once
# Item.objects.create() has returned, i.e. once PostgreSQL has committed it.
# A failed attempt prints "error ..." and the loop goes on with a fresh
# connection: it stops once ROWS_AFTER_ERROR rows were acknowledged after the
# first error (the database is back and Django reconnected by itself), or at
# its deadline, whichever comes first.
WRITER = """
import os, sys, time
import django
django.setup()
from django.db import Error, connection
from catalog.models import Item

prefix = os.environ["LOAD_PREFIX"]
deadline = time.monotonic() + float(os.environ["LOAD_SECONDS"])
after_error = int(os.environ["ROWS_AFTER_ERROR"])
attempt, errors, acked_after_error = 0, 0, 0
while time.monotonic() < deadline and acked_after_error < after_error:
    attempt += 1
    name = f"{prefix}-{attempt}"
    try:
        Item.objects.create(name=name)
    except Error as error:
        errors += 1
        print("error", type(error).__name__, flush=True)
        connection.close()
        time.sleep(0.2)
        continue
    print("acked", name, flush=True)
    if errors:
        acked_after_error += 1
    time.sleep(0.01)
print("done", attempt, errors, flush=True)
"""


@pytest.fixture(scope="module")
def prod(own_stack):
    own_stack.write_env(
        **production_settings(
            WEB_CONCURRENCY=str(WORKERS),
            GUNICORN_TIMEOUT=str(GUNICORN_TIMEOUT),
        )
    )
    own_stack.run_sh("-0")
    return own_stack


@pytest.fixture(autouse=True)
def stack_up(prod):
    """Each test starts on a ready stack, even after another test failed."""
    if status(prod.web_url("/readyz")) != 200:
        prod.run_sh("-0")
        wait_ready(prod)


# ----------------------------------------------------------------- helpers --


def status(url: str) -> int | str:
    """The HTTP status of GET url, or the name of the error that replaced it."""
    try:
        return requests.get(url, headers=THROUGH_PROXY, timeout=REQUEST_TIMEOUT).status_code
    except requests.RequestException as error:
        return type(error).__name__


def wait_ready(stack) -> None:
    url = stack.web_url("/readyz")
    wait_for(lambda: status(url) == 200, timeout=RECOVERY_TIMEOUT)


def wait_healthy(stack, *services: str) -> None:
    def healthy() -> bool:
        states = [stack.inspect("prod", service)["State"] for service in services]
        return all(state.get("Health", {}).get("Status") == "healthy" for state in states)

    wait_for(healthy, timeout=RECOVERY_TIMEOUT, interval=1)


def insert_item(stack, name: str) -> None:
    stack.psql(
        "prod",
        f"INSERT INTO catalog_item (name, description, created_at) VALUES ('{name}', '', now())",
    )


def count_items(stack, name: str) -> str:
    return stack.psql("prod", f"SELECT count(*) FROM catalog_item WHERE name = '{name}'")


def container_state(container: str) -> dict:
    output = subprocess.run(
        ["docker", "inspect", "--format", "{{json .State}}", container],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return json.loads(output)


def web_exec(stack, *args: str):
    return stack.compose("prod", "exec", "-T", stack.web_service(), *args)


def restart_count(stack, service: str) -> int:
    return stack.inspect("prod", service)["RestartCount"]


def crash(stack, service: str) -> None:
    """SIGKILL the service's main process from the host's PID namespace.

    Inside the container PID 1 ignores SIGKILL; from the host it dies the
    way a crash kills it. A throwaway container does it, so this works
    wherever the daemon runs and whoever runs the tests.
    """
    pid = stack.inspect("prod", service)["State"]["Pid"]
    assert pid > 0, f"{service} is not running"
    subprocess.run(
        ["docker", "run", "--rm", "--pid", "host", "--entrypoint", "sh", "postgres:17"]
        + ["-c", 'kill -KILL "$1"', "sh", str(pid)],
        capture_output=True,
        timeout=120,
        check=True,
    )


def worker_pids(stack) -> set[str]:
    """PIDs of gunicorn's workers: the children of PID 1 in the web container."""
    result = web_exec(stack, "cat", "/proc/1/task/1/children")
    return set(result.stdout.split())


def signal_in_web(stack, signal: str, pid: str) -> None:
    web_exec(stack, "sh", "-c", f'kill -{signal} "$1"', "sh", pid)


class ReadinessProbe(threading.Thread):
    """Polls /readyz every 0.1 s until stopped, recording every answer."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[int | str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.answers.append(status(self.url))
            self.stopped.wait(0.1)

    def stop(self) -> list[int | str]:
        self.stopped.set()
        self.join(timeout=REQUEST_TIMEOUT * 2)
        return self.answers


class Writer:
    """WRITER running in the web container, its lines collected as they come."""

    def __init__(self, stack, prefix: str, seconds: int, rows_after_error: int):
        command = stack.compose_command(
            "prod",
            "exec",
            "-T",
            "-e",
            f"LOAD_PREFIX={prefix}",
            "-e",
            f"LOAD_SECONDS={seconds}",
            "-e",
            f"ROWS_AFTER_ERROR={rows_after_error}",
            stack.web_service(),
            "python",
            "-",
        )
        self.seconds = seconds
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            cwd=stack.root,
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.process.stdin.write(WRITER)
        self.process.stdin.close()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def acked(self) -> list[str]:
        return [line.split(" ", 1)[1] for line in list(self.lines) if line.startswith("acked ")]

    def finish(self) -> int:
        returncode = self.process.wait(timeout=self.seconds + 60)
        self.reader.join(timeout=10)
        return returncode


# ------------------------------------------------------------------- tests --


def test_db_crash_under_write_load_loses_no_acknowledged_row(prod):
    readiness = ReadinessProbe(prod.web_url("/readyz"))
    readiness.start()
    writer = Writer(prod, "load", seconds=150, rows_after_error=20)
    try:
        wait_for(lambda: len(writer.acked()) >= 50, timeout=60)
        restarts = restart_count(prod, "db")
        crash(prod, "db")
        returncode = writer.finish()
    finally:
        if writer.process.poll() is None:
            writer.process.kill()
        answers = readiness.stop()
    output = "\n".join(writer.lines[-20:])
    assert returncode == 0, output
    assert any(line.startswith("error ") for line in writer.lines), "no write failed: " + output
    assert writer.lines[-1].startswith("done"), "the writer did not recover: " + output

    # Every acknowledged row survived the crash, exactly once.
    acked = writer.acked()
    stored = prod.psql("prod", "SELECT name FROM catalog_item WHERE name LIKE 'load-%'").split()
    assert len(stored) == len(set(stored))
    missing = set(acked) - set(stored)
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged rows lost: {sorted(missing)[:5]}"
    )

    # The restart policy brought db back. Meanwhile readiness answered 200 or
    # 503, never an error page or a timeout (a restart of about a second is
    # often over before a probe sees it red: test_docker_kill_... holds db
    # down long enough to see that); it is green again without a manual step.
    assert restart_count(prod, "db") > restarts
    assert set(answers) <= {200, 503}, answers
    wait_ready(prod)
    response = requests.get(
        prod.web_url("/api/items/?limit=100"), headers=THROUGH_PROXY, timeout=REQUEST_TIMEOUT
    )
    assert acked[-1] in item_names(response)
    errors = sum(line.startswith("error ") for line in writer.lines)
    print(  # shown with -rP: the figures of this run
        f"db crash: {len(acked)} writes acknowledged, {errors} failed, 0 lost; "
        f"/readyz answers: {answers.count(200)} x 200, {answers.count(503)} x 503"
    )


def test_docker_kill_of_the_db_is_an_operator_stop(prod):
    insert_item(prod, "before-kill")
    web = prod.web_service()
    web_before = prod.inspect("prod", web)
    own_ready, live = prod.gunicorn_url("/readyz"), prod.gunicorn_url("/healthz")
    container = prod.inspect("prod", "db")["Id"]
    subprocess.run(["docker", "kill", "-s", "KILL", container], capture_output=True, check=True)
    try:
        # db stays down; web stays up (liveness) and its readiness turns red,
        # so the proxy, with no ready web, answers 503 too.
        ready = prod.web_url("/readyz")
        wait_for(lambda: status(ready) == 503, timeout=60)
        assert status(live) == 200
        assert status(own_ready) == 503
        assert container_state(container)["Status"] == "exited"
        assert container_state(container)["ExitCode"] == 137
    finally:
        # Starting the stack again is the one step back, for db only.
        prod.run_sh("-0")
    wait_ready(prod)
    assert count_items(prod, "before-kill") == "1"
    # web recovered by itself: the same container, never restarted.
    web_after = prod.inspect("prod", web)
    assert web_after["Id"] == web_before["Id"]
    assert web_after["State"]["StartedAt"] == web_before["State"]["StartedAt"]


def test_a_killed_gunicorn_worker_is_replaced_and_requests_go_on(prod):
    before = worker_pids(prod)
    assert len(before) == WORKERS
    victim = min(before, key=int)
    signal_in_web(prod, "KILL", victim)
    url = prod.web_url("/api/items/")
    answers = [status(url) for _ in range(30)]
    assert answers == [200] * 30

    def replaced():
        pids = worker_pids(prod)
        return victim not in pids and len(pids) == WORKERS

    wait_for(replaced, timeout=60)
    assert "gunicorn" in web_exec(prod, "cat", "/proc/1/cmdline").stdout


def test_a_hung_worker_is_killed_after_the_gunicorn_timeout(prod):
    before = worker_pids(prod)
    victim = min(before, key=int)
    signal_in_web(prod, "STOP", victim)  # alive but silent: no heartbeat
    url = prod.web_url("/api/items/")
    answers = [status(url) for _ in range(10)]
    assert answers == [200] * 10  # the other worker serves meanwhile

    def replaced():
        pids = worker_pids(prod)
        return victim not in pids and len(pids) == WORKERS

    wait_for(replaced, timeout=GUNICORN_TIMEOUT * 6)
    logs = prod.compose("prod", "logs", "--no-log-prefix", prod.web_service()).stdout
    assert f"WORKER TIMEOUT (pid:{victim})" in logs


def test_web_container_crash_is_restarted_by_the_restart_policy(prod):
    web = prod.web_service()
    restarts = restart_count(prod, web)
    crash(prod, web)
    # Until gunicorn is back, each request fails or answers within its timeout.
    url = prod.web_url("/readyz")
    wait_for(lambda: status(url) == 200, timeout=RECOVERY_TIMEOUT)
    assert restart_count(prod, web) > restarts
    wait_healthy(prod, web)
    assert "gunicorn" in web_exec(prod, "cat", "/proc/1/cmdline").stdout


def test_compose_restart_returns_everything_healthy_with_data_intact(prod):
    insert_item(prod, "before-restart")
    prod.compose("prod", "restart")
    wait_healthy(prod, "db", prod.web_service())
    wait_ready(prod)
    response = requests.get(
        prod.web_url("/api/items/?limit=100"), headers=THROUGH_PROXY, timeout=REQUEST_TIMEOUT
    )
    assert "before-restart" in item_names(response)
    assert count_items(prod, "before-restart") == "1"


@pytest.mark.parametrize(
    ("host", "stop_db"),
    [("db-missing.invalid", False), ("db", True)],
    ids=["unknown-host", "db-stopped"],
)
def test_web_start_without_a_database_gives_up_with_the_reason(prod, host, stop_db):
    if stop_db:
        prod.compose("prod", "stop", "db")
    try:
        result = prod.compose(
            "prod",
            "run",
            "--rm",
            "--no-deps",
            "-T",
            "-e",
            f"POSTGRES_HOST={host}",
            "-e",
            "DB_WAIT_TIMEOUT=3",
            "web",
            check=False,
        )
    finally:
        if stop_db:
            prod.compose("prod", "up", "--detach", "--wait")
    assert result.returncode == 1
    lines = [
        line for line in (result.stdout + result.stderr).splitlines() if "not reachable" in line
    ]
    assert len(lines) == 1, result.stdout + result.stderr
    assert f"database app at {host}:5432 not reachable after 3s" in lines[0]
    assert "Traceback" not in result.stderr
    wait_ready(prod)


def test_run_sh_prod_with_an_unreachable_database_exits_with_the_reason(prod):
    password = prod.settings["POSTGRES_PASSWORD"]
    url = f"postgres://app:{password}@db-missing.invalid:5432/app"
    with changed_env(prod, DATABASE_URL=url, DB_WAIT_TIMEOUT="3"):
        result = prod.run_sh("-0", check=False)
    assert result.returncode == 1
    assert "database app at db-missing.invalid:5432 not reachable after 3s" in result.stderr
    # The new web never started, so it was never served: the last line says so.
    last = result.stderr.splitlines()[-1]
    assert last.startswith("run.sh: DEPLOY FAILED: the new release was never served"), last
    prod.run_sh("-0")
    wait_ready(prod)
