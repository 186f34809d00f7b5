"""Background tasks in production, end to end: the worker service runs what
web enqueues, exactly once with two workers; SIGTERM lets a running task
finish; a killed worker's task is run again, never silently lost; the
schedule fires once per period whatever the number of workers; a deploy
while tasks run loses and repeats none; a frozen worker turns unhealthy.
Counts come from the database: each fixture task writes rows
(tests/e2e/fixtures/fixture_tasks.py). (The example export and its mail:
test_dev.py.)"""

import json
import os
import signal
import subprocess
import time

import pytest

from support import wait_for
from tools.throwaway import production_settings

pytestmark = pytest.mark.e2e

LOCK_TIMEOUT = 10  # TASK_LOCK_TIMEOUT: how soon a killed worker's task is reclaimed
TICK = 5  # seconds between the fixture schedule's runs
DEPLOY_TASKS = 90  # one-second tasks


@pytest.fixture(scope="module")
def site(own_stack):
    own_stack.write_env(**production_settings(TASK_LOCK_TIMEOUT=str(LOCK_TIMEOUT)))
    own_stack.add_fixture("fixture_tasks.py")
    own_stack.append(
        "app/config/settings.py",
        'TASKS["default"]["OPTIONS"]["SCHEDULES"]["fixture-tick"] = '
        f'{{"task": "catalog.fixture_tasks.hit", "every": {TICK}, "args": ["tick"]}}',
    )
    own_stack.run_sh("-0")
    return own_stack


def enqueue(site, code: str) -> str:
    """Run ``code`` in Django in production's web, with the fixture tasks."""
    return site.django_shell(f"from catalog.fixture_tasks import hit, sleepy\n{code}")


def count_items(site, pattern: str) -> int:
    return int(site.psql("prod", f"SELECT count(*) FROM catalog_item WHERE name LIKE '{pattern}'"))


def ran_on(site, pattern: str) -> set[str]:
    """The containers (host names: short ids) whose workers ran the tasks
    whose first argument matches ``pattern``."""
    hosts = site.psql(
        "prod",
        "SELECT DISTINCT split_part(worker_ids->>0, '-', 1) FROM django_ox_oxtask "
        f"WHERE args->>0 LIKE '{pattern}'",
    )
    return set(hosts.split())


def workers(site) -> list[str]:
    return site.compose("prod", "ps", "-q", "worker").stdout.split()


def inspect(container: str) -> dict:
    output = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(output)[0])


def scale_workers(site, count: int) -> None:
    site.compose("prod", "up", "--detach", "--wait", "--no-deps", "--scale", f"worker={count}",
                 "worker")  # fmt: skip
    assert len(workers(site)) == count


def task_row(site, task_id: str) -> tuple[str, int]:
    status, attempts = site.psql(
        "prod", f"SELECT status, attempts FROM django_ox_oxtask WHERE id = '{task_id}'"
    ).split("|")
    return status, int(attempts)


def test_a_task_runs_in_the_worker_and_its_result_is_readable(site):
    task_id = enqueue(site, 'print(hit.enqueue("one-hit").id)').strip()
    wait_for(lambda: task_row(site, task_id)[0] == "SUCCESSFUL", timeout=30)
    code = f'r = hit.get_result("{task_id}"); print(r.status, r.return_value)'
    assert enqueue(site, code).strip() == "SUCCESSFUL one-hit"
    assert count_items(site, "one-hit") == 1


def test_sigterm_lets_the_running_task_finish_and_the_worker_exit_0(site):
    (worker,) = workers(site)
    task_id = enqueue(site, 'print(sleepy.enqueue("term", 5).id)').strip()
    wait_for(lambda: count_items(site, "start:term") == 1, timeout=30)
    assert count_items(site, "end:term") == 0  # running when the signal comes
    started = time.monotonic()
    subprocess.run(["docker", "stop", "--time", "60", worker], check=True, capture_output=True)
    assert time.monotonic() - started > 1.5  # it waited for the task
    state = inspect(worker)["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0)
    assert task_row(site, task_id) == ("SUCCESSFUL", 1)
    assert count_items(site, "end:term") == 1
    subprocess.run(["docker", "start", worker], check=True, capture_output=True)


def test_a_killed_workers_task_runs_again_never_silently_lost(site):
    (worker,) = workers(site)
    task_id = enqueue(site, 'print(sleepy.enqueue("killed", 3).id)').strip()
    wait_for(lambda: count_items(site, "start:killed") == 1, timeout=30)
    # As the kernel's OOM killer would: SIGKILL from outside, not `docker
    # kill` (which Docker counts as a stop and never restarts).
    state = inspect(worker)["State"]
    os.kill(state["Pid"], signal.SIGKILL)
    assert count_items(site, "end:killed") == 0
    # The restart policy brings the worker back.
    wait_for(lambda: inspect(worker)["RestartCount"] > 0, timeout=30)
    wait_for(lambda: inspect(worker)["State"]["Running"], timeout=30)
    # The lease lapses (TASK_LOCK_TIMEOUT) and the task is reclaimed and run.
    wait_for(lambda: task_row(site, task_id)[0] != "RUNNING", timeout=LOCK_TIMEOUT + 60)
    wait_for(lambda: task_row(site, task_id)[0] in ("SUCCESSFUL", "FAILED"), timeout=60)
    assert task_row(site, task_id) == ("SUCCESSFUL", 2)
    assert count_items(site, "start:killed") == 2  # at least once: it ran again
    assert count_items(site, "end:killed") == 1


def test_two_workers_run_each_of_200_tasks_exactly_once(site):
    scale_workers(site, 2)
    try:
        # One transaction: all 200 are there at once, for both workers. Each
        # takes 50 ms, so the queue outlasts a worker's idle poll (1 s): no
        # single worker can have drained it before the other looked.
        enqueue(
            site,
            "from django.db import transaction\n"
            "with transaction.atomic():\n"
            '    for n in range(200): sleepy.enqueue(f"many-{n}", 0.05)',
        )
        wait_for(lambda: count_items(site, "end:many-%") >= 200, timeout=120)
        time.sleep(3)  # a duplicate would show up now
        for side in ("start", "end"):
            assert count_items(site, f"{side}:many-%") == 200
            distinct = site.psql(
                "prod",
                f"SELECT count(DISTINCT name) FROM catalog_item WHERE name LIKE '{side}:many-%'",
            )
            assert distinct == "200"
        once = site.psql(
            "prod",
            "SELECT count(*) FROM django_ox_oxtask WHERE args->>0 LIKE 'many-%' "
            "AND status = 'SUCCESSFUL' AND attempts = 1",
        )
        assert once == "200"
        assert len(ran_on(site, "many-%")) == 2  # both workers took some
    finally:
        scale_workers(site, 1)


def test_the_schedule_fires_once_per_period_with_two_workers(site):
    fired = (
        "SELECT count(*) FROM django_ox_oxtask "
        "WHERE task_path = 'catalog.fixture_tasks.hit' AND args->>0 = 'tick'"
    )
    scale_workers(site, 2)  # both dispatch the schedule
    try:
        before, started = int(site.psql("prod", fired)), time.monotonic()
        time.sleep(6 * TICK)
        runs = int(site.psql("prod", fired)) - before
        elapsed = time.monotonic() - started
    finally:
        scale_workers(site, 1)
    # One task per tick: twice as many would mean each worker enqueued its own.
    assert elapsed / TICK - 1 <= runs <= elapsed / TICK + 1, (runs, elapsed)
    wait_for(lambda: count_items(site, "tick") == int(site.psql("prod", fired)), timeout=30)


def test_a_deploy_while_tasks_run_loses_none_and_runs_none_twice(site):
    before = {container[:12] for container in workers(site)}
    # More work than a deploy takes (build, switch), on one worker.
    enqueue(site, f'for n in range({DEPLOY_TASKS}): sleepy.enqueue(f"deploy-{{n}}", 1)')
    wait_for(lambda: count_items(site, "start:deploy-%") >= 1, timeout=30)
    site.edit("app/catalog/fixture_tasks.py", r'^RELEASE = "[^"]*"', 'RELEASE = "second"')
    site.run_sh("-0")
    after = {container[:12] for container in workers(site)}
    assert not before & after, "the deploy did not replace the worker"
    wait_for(lambda: count_items(site, "end:deploy-%") >= DEPLOY_TASKS, timeout=DEPLOY_TASKS * 3)
    assert count_items(site, "start:deploy-%") == DEPLOY_TASKS
    assert count_items(site, "end:deploy-%") == DEPLOY_TASKS
    runs = site.psql(
        "prod",
        "SELECT count(*) FROM django_ox_oxtask WHERE args->>0 LIKE 'deploy-%' "
        "AND status = 'SUCCESSFUL' AND attempts = 1",
    )
    assert runs == str(DEPLOY_TASKS)
    # The queue was split between the old release's worker and the new one's.
    hosts = ran_on(site, "deploy-%")
    assert hosts & before and hosts & after, (hosts, before, after)


def test_a_frozen_worker_turns_unhealthy_and_recovers(site):
    (worker,) = workers(site)

    def health() -> str:
        return str(inspect(worker)["State"]["Health"]["Status"])

    wait_for(lambda: health() == "healthy", timeout=60)
    subprocess.run(["docker", "kill", "--signal", "STOP", worker], check=True, capture_output=True)
    try:
        wait_for(lambda: health() == "unhealthy", timeout=90)
    finally:
        subprocess.run(["docker", "kill", "--signal", "CONT", worker], check=True)
    wait_for(lambda: health() == "healthy", timeout=60)
