"""The Swarm stack file (driver/swarm.py) and the deploy's refusals
(driver/swarm_deploy.py), without Docker."""

import copy
import json

import pytest

from driver import stack_file, swarm
from driver.console import Refused
from driver.database import Database
from driver.modes import PROD
from driver.runner import Done
from driver.swarm_deploy import SwarmDeploy
from fakes import has

KEY = "k7Qx2vLp9sTz4mWc8rYb1nHd6fJg3aKe5uVo0iXq-ZsPlMnBcDe"
IMAGE = "proj-web:20261129T120000Z"
CONTENTS = {"caddyfile": b"{$SITE_ADDRESS} {}\n"}


def model() -> dict:
    """What `docker compose config --format json` gives for the Swarm files."""
    web = {
        "build": {"context": "."},
        "command": ["serve"],
        "depends_on": {"db": {"condition": "service_healthy"}},
        "deploy": {"resources": {"limits": {"cpus": 1, "memory": "536870912", "pids": 256}}},
        "entrypoint": None,
        "environment": {"SECRET_KEY": KEY, "POSTGRES_PASSWORD": "pw", "DATABASE_URL": ""},
        "image": "proj-web:latest",
        "restart": "unless-stopped",
        "security_opt": ["no-new-privileges:true"],
        "tmpfs": ["/tmp:size=64m"],
        "volumes": [{"type": "volume", "source": "media-prod-data", "target": "/srv/media"}],
    }
    return {
        "name": "proj",
        "services": {
            "db": {
                "command": None,
                "deploy": {"placement": {"constraints": ["node.labels.proj.data == true"]}},
                "environment": {"POSTGRES_PASSWORD": "pw"},
            },
            "migrate": {**copy.deepcopy(web), "command": ["migrate"]},
            "web": web,
            "proxy": {
                "ports": [{"host_ip": "127.0.0.1", "published": "8443", "target": 443}],
            },
        },
        "volumes": {"media-prod-data": {"name": "proj_media-prod-data"}},
        "networks": {"default": {"name": "proj_default"}},
        "configs": {"caddyfile": {"name": "proj_caddyfile", "file": "/x/Caddyfile"}},
        "x-django-env": {"SECRET_KEY": KEY},
    }


def test_the_stack_file_fits_swarms_loader_and_says_what_changed():
    stack, secrets, changes = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    web = stack["services"]["web"]
    for key in ("build", "depends_on", "restart", "security_opt", "tmpfs", "entrypoint"):
        assert key not in web
    assert web["deploy"]["resources"]["limits"]["cpus"] == "1"
    assert web["image"] == stack["services"]["migrate"]["image"] == IMAGE
    assert {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 << 20}} in web["volumes"]
    assert "command" not in stack["services"]["db"]  # null: the image's own
    assert stack["services"]["proxy"]["ports"] == [
        {"published": 8443, "target": 443, "mode": "host"}
    ]
    assert "name" not in stack and "x-django-env" not in stack
    assert stack["volumes"]["media-prod-data"] == {}
    assert set(changes) == {
        "build", "depends_on", "restart", "security_opt", "tmpfs",
        "ports.host_ip", "ports.mode", "environment secrets", "name",
    }  # fmt: skip
    assert changes["build"] == ["migrate", "web"]
    assert {secret.setting for secret in secrets} == {"SECRET_KEY", "POSTGRES_PASSWORD"}


def test_every_change_has_its_line_and_what_stands_in():
    _, _, changes = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    lines = stack_file.change_lines(changes)
    assert len(lines) == len(changes)
    assert lines[0].startswith("build (migrate, web): Swarm: ignored")
    assert all("; instead: " in line for line in lines)


def test_secrets_leave_the_environment_for_files():
    stack, secrets, _ = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    web = stack["services"]["web"]
    assert "SECRET_KEY" not in web["environment"]
    assert web["environment"]["SECRET_KEY_FILE"] == "/run/secrets/SECRET_KEY"
    assert web["environment"]["DATABASE_URL"] == ""  # empty: nothing to hide
    assert {"source": secrets[1].name, "target": "SECRET_KEY"} in web["secrets"]
    assert KEY not in json.dumps(stack) and "pw" not in json.dumps(stack["services"])
    assert stack["secrets"][secrets[0].name] == {"external": True, "name": secrets[0].name}
    # The db gets the same password secret, through POSTGRES_PASSWORD_FILE.
    db = stack["services"]["db"]
    assert db["environment"] == {"POSTGRES_PASSWORD_FILE": "/run/secrets/POSTGRES_PASSWORD"}


def test_a_secret_or_config_is_named_after_its_value():
    same = stack_file.secret_name("proj", "POSTGRES_PASSWORD", "pw", KEY)
    assert same == stack_file.secret_name("proj", "POSTGRES_PASSWORD", "pw", KEY)
    assert same != stack_file.secret_name("proj", "POSTGRES_PASSWORD", "pw2", KEY)
    # Keyed with SECRET_KEY: the public name tells nothing of a guessable value.
    assert same != stack_file.secret_name("proj", "POSTGRES_PASSWORD", "pw", KEY + "x")
    assert same.startswith("proj_postgres_password_") and "pw" not in same[5:]
    long = stack_file.secret_name("p" * 40, "DJANGO_SUPERUSER_PASSWORD", "pw", KEY)
    assert len(long) <= stack_file.NAME_MAX
    assert long != stack_file.secret_name("p" * 41, "DJANGO_SUPERUSER_PASSWORD", "pw", KEY)
    stack, _, _ = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    other, _, _ = stack_file.build(model(), "proj", IMAGE, {"caddyfile": b"changed\n"})
    assert stack["configs"]["caddyfile"]["name"] != other["configs"]["caddyfile"]["name"]
    assert stack["configs"]["caddyfile"]["file"] == "/x/Caddyfile"


def test_uploads_in_a_local_volume_keep_webs_image_on_the_data_node():
    stack, _, _ = stack_file.build(model(), "proj", IMAGE, CONTENTS, pin_to_data_node=True)
    for name in ("migrate", "web"):
        constraints = stack["services"][name]["deploy"]["placement"]["constraints"]
        assert constraints == ["node.labels.proj.data == true"]
    assert stack["services"]["db"]["deploy"]["placement"]["constraints"] == [
        "node.labels.proj.data == true"
    ]
    assert stack_file.data_label(model()) == "proj.data"
    loose, _, _ = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    assert "placement" not in loose["services"]["web"]["deploy"]


def test_webs_stop_grace_covers_its_drain_and_gunicorns():
    assert (
        stack_file.web_stop_grace({"WEB_STOP_DRAIN": "3", "GUNICORN_GRACEFUL_TIMEOUT": "30"})
        == "38s"
    )
    with pytest.raises(ValueError, match="WEB_STOP_DRAIN must be a whole number"):
        stack_file.web_stop_grace({"WEB_STOP_DRAIN": "3s"})
    rolling = model()
    rolling["services"]["web"]["environment"].update(WEB_STOP_DRAIN="15")
    rolling["services"]["web"]["deploy"]["update_config"] = {"failure_action": "rollback"}
    stack, _, _ = stack_file.build(rolling, "proj", IMAGE, CONTENTS)
    assert stack["services"]["web"]["stop_grace_period"] == "20s"
    assert stack_file.rolling_services(rolling) == ["web"]


def test_one_service_is_deployed_alone_with_its_secrets():
    stack, secrets, _ = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    plan = stack_file.one_service(stack, "migrate", ["plan", "--allow-breaking"], name="plan")
    assert list(plan["services"]) == ["plan"]
    assert plan["services"]["plan"]["command"] == ["plan", "--allow-breaking"]
    assert set(plan["secrets"]) == {secret.name for secret in secrets}
    assert plan["networks"] == stack["networks"]
    db = stack_file.one_service(stack, "db")
    assert list(db["secrets"]) == [s.name for s in secrets if s.setting == "POSTGRES_PASSWORD"]
    assert stack["services"]["migrate"]["command"] == ["migrate"]  # untouched


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("inactive false ", "this Docker is in no swarm: create one with docker swarm init"),
        ("", "this Docker is in no swarm"),
        ("active false n0de", "this node is a swarm worker"),
        ("active true n0de", None),
    ],
)
def test_only_a_manager_deploys(state, expected):
    problem = swarm.swarm_problem(state)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(expected)


def test_task_states_and_what_ends_a_job():
    states = swarm.parse_task_states(
        "complete\t0\t\nfailed\t1\ttask: non-zero exit (1)\nrunning\t\t\n"
    )
    assert [(s.state, s.exit_code, s.done) for s in states] == [
        ("complete", 0, True),
        ("failed", 1, True),
        ("running", -1, False),
    ]
    assert states[1].error == "task: non-zero exit (1)"
    assert swarm.update_failed("rollback_completed\n") and swarm.update_failed("paused")
    assert not swarm.update_failed("completed\n") and not swarm.update_failed("")
    never = swarm.parse_task_states("rejected\t\tNo such image: proj-web:1\n")[0]
    assert never.done and not never.ran


def test_the_swarms_own_tasks_are_not_the_compose_stack():
    assert swarm.compose_containers("t4sk\nt4sk2\n") == 0
    assert swarm.compose_containers("t4sk\n\n") == 1


def test_several_nodes_need_a_registry_unless_webs_image_stays_on_the_data_node():
    assert swarm.image_problem(1, "", pinned=False) is None
    assert swarm.image_problem(3, "registry.example.com", pinned=False) is None
    assert swarm.image_problem(3, "", pinned=True) is None
    problem = swarm.image_problem(3, "", pinned=False)
    assert problem is not None and "SWARM_REGISTRY is empty" in problem


def test_a_deploy_with_a_registry_passes_the_login_on_to_the_nodes():
    plain = swarm.deploy_argv("proj", "/tmp/s.json", wait=True)
    assert plain[-1] == "proj" and "--with-registry-auth" not in plain
    assert "--detach=false" in plain and "--resolve-image" in plain
    assert "--with-registry-auth" in swarm.deploy_argv("proj", "f", wait=False, registry=True)


def test_tmpfs_sizes_and_registry_names():
    assert stack_file.tmpfs_mount("/run:size=1m") == {
        "type": "tmpfs", "target": "/run", "tmpfs": {"size": 1 << 20},
    }  # fmt: skip
    assert stack_file.tmpfs_mount("/tmp") == {"type": "tmpfs", "target": "/tmp"}
    assert swarm.registry_image("", "proj-web:1") == "proj-web:1"
    assert swarm.registry_image("registry.example.com:5000/team/", "proj-web:1") == (
        "registry.example.com:5000/team/proj-web:1"
    )


def test_a_database_command_in_a_swarm_task_runs_in_its_container():
    task = swarm.TaskContainer("c0ffee")
    assert task.exec("db", "pg_dump", "-U", "app") == [
        "docker",
        "exec",
        "-i",
        "c0ffee",
        "pg_dump",
        "-U",
        "app",
    ]
    argv = task.sql("app", "postgres", "SELECT 1")
    assert argv[:5] == ["docker", "exec", "-i", "c0ffee", "env"]
    assert argv[-2:] == ["-c", "SELECT 1"]


def test_a_deploy_outside_a_swarm_is_refused_before_anything_is_built(project):
    project_, runner = project
    project_.mode = PROD
    runner.answer(has("docker", "info"), Done(0, "inactive false \n"))
    with pytest.raises(Refused, match="in no swarm: create one with docker swarm init"):
        SwarmDeploy(project_).run()
    assert not runner.ran("build")


def test_a_deploy_beside_the_compose_stack_is_refused(project):
    project_, runner = project
    project_.mode = PROD
    runner.answer(has("docker", "info"), Done(0, "active true n0de\n"))
    # One of the swarm's tasks (web's image has Compose's labels), one of Compose's.
    runner.answer(has("label=com.docker.compose.project=proj"), Done(0, "t4sk\n\n"))
    with pytest.raises(Refused, match="stop it first with sh run.sh -0 down"):
        SwarmDeploy(project_).run()
    assert not runner.ran("build") and not runner.ran("node", "update")


# -- the deploy's migrate step, on a fake runner -------------------------------------


def migrate_step(project, plan: str, migrate: str = "complete\t0\t"):
    """SwarmDeploy.migrate with the plan job ending ``plan`` and the migrate
    job ``migrate`` (state, exit code, error)."""
    project_, runner = project
    project_.mode = PROD
    runner.answer(has("service", "inspect", "proj_migrate"), Done(1, "", "no such service"))
    runner.answer(has("service", "ps", "proj_plan"), Done(0, "p1\n"))
    runner.answer(has("docker", "inspect", "p1"), Done(0, plan + "\n"))
    runner.answer(has("service", "ps", "proj_migrate"), Done(0, "m1\n"))
    runner.answer(has("docker", "inspect", "m1"), Done(0, migrate + "\n"))
    runner.answer(has("service", "logs", "proj_plan"), Done(0, "apply catalog.0004_x\n"))
    deploy = SwarmDeploy(project_)
    stack, _, _ = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    database = Database(project_, swarm.TaskContainer("c0ffee"))
    return lambda: deploy.migrate(stack, database, IMAGE), runner


def test_the_gate_refuses_before_any_backup_or_migration(project):
    step, runner = migrate_step(project, plan="complete\t11\t")
    with pytest.raises(Refused, match="deploy refused by the migration plan"):
        step()
    assert len(runner.ran("stack", "deploy")) == 1  # the plan job alone
    assert not runner.ran("pg_dump")


def test_pending_migrations_are_backed_up_then_migrated(project):
    step, runner = migrate_step(project, plan="complete\t10\t")
    step()
    assert len(runner.ran("docker", "exec", "-i", "c0ffee", "pg_dump")) == 1
    assert len(runner.ran("stack", "deploy")) == 2  # plan, then migrate
    assert runner.ran("service", "rm", "proj_plan")


def test_a_failed_migrate_keeps_its_state_and_restores_the_backup(project):
    step, runner = migrate_step(project, plan="complete\t10\t", migrate="failed\t1\terr")
    with pytest.raises(Refused, match="DEPLOY FAILED: the migrate job failed"):
        step()
    dumps = runner.ran("pg_dump")
    assert len(dumps) == 2  # pre-migrate, then failed-migrate
    assert runner.ran("docker", "exec", "-i", "c0ffee", "pg_restore")


def test_a_migrate_job_that_never_started_restores_nothing(project):
    step, runner = migrate_step(
        project, plan="complete\t10\t", migrate="rejected\t\tNo such image: proj-web:1"
    )
    with pytest.raises(Refused, match="never started .No such image"):
        step()
    assert not runner.ran("pg_restore")


def test_a_release_already_migrated_runs_no_job(project):
    project_, runner = project
    project_.mode = PROD
    runner.answer(has("service", "inspect", "proj_migrate"), Done(0, IMAGE + "\n"))
    runner.answer(has("service", "ps", "proj_migrate"), Done(0, "m1\n"))
    runner.answer(has("docker", "inspect", "m1"), Done(0, "complete\t0\t\n"))
    stack, _, _ = stack_file.build(model(), "proj", IMAGE, CONTENTS)
    SwarmDeploy(project_).migrate(stack, Database(project_, swarm.TaskContainer("c")), IMAGE)
    assert not runner.ran("stack", "deploy")


def test_an_update_swarm_rolled_back_is_a_refusal_that_says_so(project):
    project_, runner = project
    project_.mode = PROD
    runner.answer(has("service", "inspect", "proj_web"), Done(0, "rollback_completed\n"))
    rolling = model()
    rolling["services"]["web"]["deploy"]["update_config"] = {"failure_action": "rollback"}
    with pytest.raises(Refused, match="rolled it back to the previous release, which serves on"):
        SwarmDeploy(project_).require_rolled_out(rolling, "20261129T120000Z")
