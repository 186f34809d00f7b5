"""The zero-drop switch between the two web slots, with Docker faked: the
order of its steps, and a release that never gets ready."""

import pytest

from driver import proxy, rollout
from driver.console import Refused
from driver.modes import PROD
from driver.proxy import Proxy
from driver.rollout import Container, Rollout
from driver.runner import Done
from fakes import has, proxy_running

OLD = "c0ffee\t/proj-web-1\trunning\tsha256:old\t0\th-web\tweb"
NEW = "beef00\t/proj-web-alt-1\trunning\tsha256:new\t0\th-alt\tweb-alt"


def test_the_inspect_lines_are_read_as_containers():
    (container,) = rollout.parse_containers(OLD + "\nnot a container line\n")
    assert container == Container(
        "c0ffee", "proj-web-1", "running", "sha256:old", 0, "h-web", "web"
    )


def test_a_slot_is_up_to_date_only_with_the_same_image_and_settings():
    (old,) = rollout.parse_containers(OLD)
    assert rollout.up_to_date([old], "sha256:old", "h-web")
    assert not rollout.up_to_date([old], "sha256:new", "h-web")
    assert not rollout.up_to_date([old], "sha256:old", "h-other")
    assert not rollout.up_to_date([], "sha256:old", "h-web")


def test_the_slots_take_turns():
    assert rollout.other_slot("web") == "web-alt"
    assert rollout.other_slot("web-alt") == "web"


def test_compose_config_hash_is_read_for_the_service():
    assert rollout.config_hash("web abc123\nproxy def456\n", "proxy") == "def456"
    assert rollout.config_hash("", "web") == ""


def test_old_containers_get_the_graceful_timeout_and_a_margin():
    assert rollout.stop_seconds("30") == 35
    assert rollout.stop_seconds("") == 35


def test_in_flight_requests_are_counted_per_slot():
    upstreams = '[{"address":"web:8000","num_requests":2,"fails":0},{"address":"web-alt:8000","num_requests":1}]'
    assert proxy.in_flight(upstreams, "web") == 2
    assert proxy.in_flight(upstreams, "web-alt") == 1
    assert proxy.in_flight("not json", "web") == 0


@pytest.fixture
def switching(project, monkeypatch):
    """web serves an old image; the new one is built; nothing waits for real."""
    monkeypatch.setattr(rollout.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(proxy.time, "sleep", lambda seconds: None)
    project_, runner = project
    project_.mode, project_.mode_given = PROD, True
    runner.answer(has("label=com.docker.compose.service=web"), Done(0, "c0ffee\n"))
    runner.answer(has("label=com.docker.compose.service=web-alt"), Done(0, "beef00\n"))
    runner.answer(has("docker", "inspect", "c0ffee"), Done(0, OLD + "\n"))
    runner.answer(has("docker", "inspect", "beef00"), Done(0, NEW + "\n"))
    runner.answer(has("image", "inspect"), Done(0, "sha256:new\n"))
    proxy_running(runner)
    return Rollout(project_), runner, Proxy(runner, "pr0xy")


def step_names(runner) -> list[str]:
    names = {
        "start new": has("up", "--force-recreate", "web-alt"),
        "ready?": has("pr0xy", "wget", "http://web-alt:8000/readyz"),
        "drain old": has("docker", "exec", "c0ffee", "touch"),
        "in flight?": has("wget", proxy.UPSTREAMS_URL),
        "stop old": has("docker", "stop", "c0ffee"),
        "remove": has("docker", "rm", "--force"),
        "workers": has("up", "--no-deps", "worker"),
    }
    return [name for argv in runner.calls for name, match in names.items() if match(argv)]


def test_the_new_slot_is_served_before_the_old_one_drains_and_stops(switching):
    rollout_, runner, _ = switching
    started = []  # web-alt has a container once `up` has started it

    def up(argv):
        if has("up", "--force-recreate", "web-alt")(argv):
            started.append(argv)
            return True
        return False

    runner.answers.insert(0, (up, Done(0)))
    runner.answers.insert(
        1,
        (
            lambda argv: has("label=com.docker.compose.service=web-alt")(argv) and not started,
            Done(0),
        ),
    )
    rollout_.run()
    assert step_names(runner) == [
        "start new",
        "ready?",
        "drain old",
        "in flight?",
        "stop old",
        "remove",
        "workers",  # after web: Compose replaces them once their tasks end
    ]
    assert runner.ran("docker", "stop", "--time", "35", "c0ffee")


def test_a_release_that_never_gets_ready_is_removed_and_the_old_one_kept(switching):
    rollout_, runner, proxy_ = switching
    rollout_.ready_timeout = 0
    runner.answer(has("pr0xy", "wget", "http://web-alt:8000/readyz"), Done(1))
    runner.answer(has("docker", "logs"), Done(0, "readyz says 503\n"))
    with pytest.raises(Refused, match="DEPLOY FAILED: the new release was never served"):
        rollout_.switch(proxy_, "web", rollout.parse_containers(OLD))
    assert runner.ran("docker", "rm", "--force", "beef00")
    assert not runner.ran("docker", "exec", "c0ffee", "touch")
    assert not runner.ran("docker", "stop", "c0ffee")


def test_a_release_that_crashes_is_given_up_at_once(switching):
    rollout_, runner, proxy_ = switching
    crashed = NEW.replace("\t0\th-alt", "\t1\th-alt")
    runner.answers.insert(0, (has("docker", "inspect", "beef00"), Done(0, crashed + "\n")))
    runner.answer(has("pr0xy", "wget"), Done(1))
    with pytest.raises(Refused, match="proj-web-alt-1 exited before it was ready"):
        rollout_.switch(proxy_, "web", rollout.parse_containers(OLD))


def test_an_up_to_date_web_is_left_alone(switching):
    rollout_, runner, _ = switching
    runner.answers.insert(0, (has("image", "inspect"), Done(0, "sha256:old\n")))
    runner.answers.insert(0, (has("label=com.docker.compose.service=web-alt"), Done(0, "")))
    runner.answers.insert(0, (has("config", "--hash", "*"), Done(0, "web h-web\nproxy h-proxy\n")))
    rollout_.run()
    assert step_names(runner) == ["workers"]  # up to date too, or started if missing


def test_workers_that_do_not_start_are_reported_with_web_in_service(switching):
    rollout_, runner, _ = switching
    runner.answers.insert(0, (has("up", "--no-deps", "worker"), Done(1)))
    with pytest.raises(Refused, match="worker did not start .* web is in service"):
        rollout_.ensure_workers()


def test_an_unhealthy_worker_gets_its_next_health_checks_before_the_up(switching, monkeypatch):
    rollout_, runner, _ = switching
    worker = "w0rker\t/proj-worker-1\trunning\tsha256:new\t0\th-worker\tworker\n"
    runner.answers.insert(0, (has("label=com.docker.compose.service=worker"), Done(0, "w0rker\n")))
    runner.answers.insert(0, (has(rollout.INSPECT_FORMAT, "w0rker"), Done(0, worker)))
    runner.answers.insert(0, (has(rollout.HEALTH_FORMAT), Done(0, "healthy\nunhealthy\n")))
    monkeypatch.setattr(rollout.time, "sleep", lambda _: runner.answers.pop(0))  # it recovers
    rollout_.ensure_workers()
    checks = [argv for argv in runner.calls if has(rollout.HEALTH_FORMAT)(argv)]
    assert len(checks) == 2
    assert runner.calls.index(checks[-1]) < runner.calls.index(runner.ran("up", "worker")[0])


def test_the_media_server_and_the_proxy_reload_their_own_caddyfiles(switching):
    rollout_, runner, _ = switching
    rollout_.ensure_proxy()
    reloads = [argv for argv in runner.calls if has("caddy", "reload")(argv)]
    assert reloads == [
        proxy.reload_argv("med1a", proxy.MEDIA_CADDYFILE),
        proxy.reload_argv("pr0xy", proxy.CADDYFILE),
    ]
