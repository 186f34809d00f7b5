"""Production stack end to end: sh run.sh -0 (and plain docker compose up)."""

import json
import re
import secrets
import socket
import subprocess
import tarfile

import pytest
import requests

from support import admin_css_path
from tools.throwaway import THROUGH_PROXY, production_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prod(stack):
    if (stack.root / ".env").exists():  # test_dev.py ran: its dev stack goes
        stack.run_sh("down")
    stack.write_env(
        **production_settings(
            WEB_MEMORY_LIMIT="600M",  # not the default: the limits come from .env
            DB_PIDS_LIMIT="300",
            PROXY_MEMORY_LIMIT="300M",
            DJANGO_SUPERUSER_USERNAME="admin",
            DJANGO_SUPERUSER_EMAIL="admin@example.org",
            DJANGO_SUPERUSER_PASSWORD=secrets.token_urlsafe(16),
        )
    )
    stack.run_sh("-0")
    return stack


def web_exec(stack, *args: str, check: bool = True):
    """``args`` in the serving web container (web or web-alt)."""
    return stack.compose("prod", "exec", "-T", stack.web_service(), *args, check=check)


def test_gunicorn_serves_as_pid_1(prod):
    response = requests.get(prod.url("prod", "/healthz"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Server"].startswith("gunicorn")
    cmdline = web_exec(prod, "cat", "/proc/1/cmdline").stdout
    assert "gunicorn" in cmdline


def test_debug_is_off(prod):
    response = requests.get(prod.url("prod", "/no-such-page/"), headers=THROUGH_PROXY, timeout=10)
    assert response.status_code == 404
    assert "URLconf" not in response.text
    assert "DEBUG = True" not in response.text


def test_admin_css_is_served_compressed(prod):
    login = requests.get(prod.url("prod", "/admin/login/"), headers=THROUGH_PROXY, timeout=10)
    assert login.status_code == 200
    css_url = prod.url("prod", admin_css_path(login.text))
    css = requests.get(css_url, headers=THROUGH_PROXY, timeout=10)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.headers.get("Content-Encoding") in ("gzip", "br")
    assert "body" in css.text


def test_plain_http_is_redirected_to_https_but_probes_are_not(prod):
    page = requests.get(prod.url("prod", "/admin/login/"), allow_redirects=False, timeout=10)
    assert page.status_code == 301
    # Django builds it from the Host header: the proxy's published address.
    assert page.headers["Location"] == f"https://{prod.published('prod', 'proxy', 80)}/admin/login/"
    for probe in ("/healthz", "/readyz"):
        assert requests.get(prod.url("prod", probe), timeout=10).status_code == 200, probe


def test_https_responses_carry_hsts_and_https_only_cookies(prod):
    login = requests.get(prod.url("prod", "/admin/login/"), headers=THROUGH_PROXY, timeout=10)
    assert login.status_code == 200
    hsts = login.headers["Strict-Transport-Security"]
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    csrf_cookie = next(cookie for cookie in login.cookies if cookie.name == "csrftoken")
    assert csrf_cookie.secure


def test_check_deploy_is_silent_in_the_running_container(prod):
    result = web_exec(
        prod, "python", "manage.py", "check", "--deploy", "--fail-level", "WARNING", check=False
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def project_containers(stack) -> list[dict]:
    """docker inspect of every container of the stack's project, stopped ones too."""
    label = f"label=com.docker.compose.project={stack.project}"
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True, check=True
    ).stdout.split()
    output = subprocess.run(
        ["docker", "inspect", *ids], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output)


def would_be_ports(stack) -> set[int]:
    """Host ports web, the database and pgAdmin would use if they were
    published: those the dev overlay publishes for them, and the database's
    own ports."""
    dev = json.loads(stack.compose("dev", "config", "--format", "json").stdout)["services"]
    services = ("db", "pgadmin", "web")
    ports = {int(port["published"]) for name in services for port in dev[name]["ports"]}
    exposed = stack.inspect("prod", "db")["Config"]["ExposedPorts"]
    return ports | {int(port.split("/")[0]) for port in exposed}


def test_only_the_proxy_ports_are_published(prod):
    services = prod.compose("prod", "ps", "--all", "--services").stdout.split()
    assert "pgadmin" not in services
    published = {}
    for container in project_containers(prod):
        service = container["Config"]["Labels"]["com.docker.compose.service"]
        bindings = container["HostConfig"]["PortBindings"] or {}
        published[service] = sorted(port for port, hosts in bindings.items() if hosts)
    # The proxy: HTTP, HTTPS and HTTP/3 (UDP). run.sh migrates in one-off
    # containers (gone again); plain Compose leaves an exited migrate
    # container; a deploy may have moved web to web-alt: none publishes anything.
    assert published.pop("proxy") == ["443/tcp", "443/udp", "80/tcp"]
    assert published.pop(prod.web_service()) == []
    assert published.pop("db") == []
    assert published.pop("media") == []
    assert published.pop("worker") == []
    assert published.pop("backup") == []
    assert published == {} or published == {"migrate": []}

    ports = would_be_ports(prod)
    assert {prod.ports["DEV_DB_PORT"], prod.ports["PGADMIN_PORT"], prod.ports["WEB_PORT"]} <= ports
    for port in sorted(ports):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def image_files_containing(image: str, needles: dict[str, str]) -> tuple[list[str], dict]:
    """Names of .env files in the image's filesystem, and for each needle the
    files whose content contains it (the image exported from a stopped
    container, read as a stream)."""
    container = subprocess.run(
        ["docker", "create", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    env_files, found = [], {name: [] for name in needles}
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            for member in tar:
                basename = member.name.rsplit("/", 1)[-1]
                if basename == ".env" or basename.startswith(".env."):
                    env_files.append(member.name)
                if not member.isfile():
                    continue
                content = tar.extractfile(member).read()
                for name, needle in needles.items():
                    if needle.encode() in content:
                        found[name].append(member.name)
        assert export.wait(timeout=300) == 0
    finally:
        subprocess.run(["docker", "rm", container], capture_output=True, check=False)
    return env_files, found


def test_no_secret_is_in_the_web_image(prod):
    image = prod.inspect("prod", prod.web_service())["Image"]
    secrets_in_use = {
        name: prod.settings[name]
        for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "DJANGO_SUPERUSER_PASSWORD")
    }
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    config = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, text=True, check=True
    ).stdout
    assert "collectstatic" in history  # the build steps are there to be read
    assert not re.search(r"(^|[\s/=])\.env\b", history)
    for name, value in secrets_in_use.items():
        assert value not in history, name
        assert value not in config, name

    # A line of the code, which is in the image: proof the scan reads files.
    marker = (prod.root / "app/config/settings.py").read_text().splitlines()[0]
    env_files, found = image_files_containing(image, {**secrets_in_use, "marker": marker})
    assert env_files == []
    assert found.pop("marker") == ["app/config/settings.py"]
    assert found == {name: [] for name in secrets_in_use}


def test_containers_are_hardened_and_limited_as_configured(prod):
    containers = {
        container["Config"]["Labels"]["com.docker.compose.service"]: container["HostConfig"]
        for container in project_containers(prod)
    }
    web = prod.web_service()
    assert (
        {"db", web, "worker", "proxy", "media", "backup"}
        <= set(containers)
        <= {"db", "migrate", web, "worker", "proxy", "media", "backup"}
    )
    for service, host in containers.items():
        assert host["SecurityOpt"] == ["no-new-privileges:true"], service
        assert host["CapDrop"] == ["ALL"], service
        assert host["ReadonlyRootfs"] is True, service
        assert host["Privileged"] is False, service
    assert sorted(containers["db"]["CapAdd"]) == [
        "CAP_CHOWN",
        "CAP_DAC_READ_SEARCH",
        "CAP_SETGID",
        "CAP_SETUID",
    ]
    assert containers["proxy"]["CapAdd"] == ["CAP_NET_BIND_SERVICE"]
    assert containers[web]["CapAdd"] is None
    assert containers[web]["Memory"] == 600 * 1024 * 1024
    assert containers[web]["NanoCpus"] == 1_000_000_000
    # The worker: web's image and hardening, its own limits.
    assert containers["worker"]["CapAdd"] is None
    assert containers["worker"]["Memory"] == 512 * 1024 * 1024
    assert containers["worker"]["PidsLimit"] == 256
    worker_uid = prod.compose("prod", "exec", "-T", "worker", "id", "-u").stdout.strip()
    assert worker_uid not in ("", "0")
    assert containers["db"]["PidsLimit"] == 300
    assert containers["proxy"]["Memory"] == 300 * 1024 * 1024
    assert containers["proxy"]["NanoCpus"] == 1_000_000_000
    assert containers["proxy"]["PidsLimit"] == 256
    # The media server runs as nobody: its binary's file capability stays in
    # the bounding set only so that it may run, and is never granted.
    assert containers["media"]["CapAdd"] == ["CAP_NET_BIND_SERVICE"]
    media = prod.compose(
        "prod", "exec", "-T", "media", "sh", "-c", "id -u; grep CapEff /proc/1/status"
    )
    assert media.stdout.split() == ["65534", "CapEff:", "0000000000000000"]
    assert containers["media"]["Memory"] == 128 * 1024 * 1024
    # The scheduled backups: root with two capabilities, to write BACKUP_DIR
    # as its owner (compose.yml), and nothing else.
    assert sorted(containers["backup"]["CapAdd"]) == ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]
    assert containers["backup"]["Memory"] == 512 * 1024 * 1024
    assert containers["backup"]["PidsLimit"] == 64
    # It reads the WAL archive (for its copy in a bucket) and never writes it.
    wal = prod.compose("prod", "exec", "-T", "backup", "touch", "/srv/wal/x", check=False)
    assert wal.returncode != 0 and "Read-only file system" in wal.stderr


def test_web_writes_only_to_its_tmpfs_and_the_media_volume(prod):
    read_only = web_exec(prod, "touch", "/app/x", check=False)
    assert read_only.returncode != 0
    assert "Read-only file system" in read_only.stderr
    for path in ("/tmp/x", "/srv/media/x"):
        writable = web_exec(prod, "touch", path, check=False)
        assert writable.returncode == 0, writable.stderr
    web_exec(prod, "rm", "/srv/media/x")


def test_web_runs_as_an_unprivileged_user(prod):
    uid = web_exec(prod, "id", "-u").stdout.strip()
    assert uid != "0"


def test_services_restart_with_the_docker_daemon(prod):
    for service in ("db", prod.web_service(), "worker", "proxy", "media"):
        policy = prod.inspect("prod", service)["HostConfig"]["RestartPolicy"]["Name"]
        assert policy == "unless-stopped", service


def test_superuser_is_created_once(prod):
    again = prod.run_sh("superuser")
    assert "already exists" in again.stdout + again.stderr
    assert prod.psql("prod", "SELECT count(*) FROM auth_user WHERE is_superuser") == "1"


def container_address(container_id: str) -> str:
    """The container's IP address on the project's network."""
    return subprocess.run(
        [
            "docker",
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        ]
        + [container_id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_two_replicas_never_migrate(prod):
    prod.compose("prod", "up", "--detach", "--wait", "--scale", "web=2")
    replicas = prod.compose("prod", "ps", "-q", "web").stdout.split()
    assert len(replicas) == 2
    # web publishes no port: each replica is asked at its own address.
    for replica in replicas:
        url = f"http://{container_address(replica)}:8000/readyz"
        assert requests.get(url, timeout=10).status_code == 200, replica
    duplicates = prod.psql(
        "prod", "SELECT app, name FROM django_migrations GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert duplicates == ""
    assert "Applying" not in prod.compose("prod", "logs", "web").stdout
    assert "No migrations to apply." in prod.compose("prod", "logs", "migrate").stdout
    plan = prod.run_sh("manage", "showmigrations", "--plan").stdout
    assert re.search(r"^\[X\]  catalog\.0001_initial$", plan, re.MULTILINE)
    assert "[ ]" not in plan


def test_plain_docker_compose_up_brings_up_production(prod):
    prod.run_sh("down")
    result = prod.compose("prod", "up", "--detach", "--wait")
    assert result.returncode == 0
    assert requests.get(prod.url("prod", "/readyz"), timeout=10).json()["database"] == "ok"
