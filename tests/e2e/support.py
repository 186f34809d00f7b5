"""Plain helpers of the end-to-end tests (fixtures: tests/plugins/stack.py;
the stack itself: tools/throwaway.py)."""

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import requests

from pgadmin_client import PgAdminClient
from tools.throwaway import ThrowawayStack

FIXTURE_MIGRATIONS = Path(__file__).parent / "fixtures" / "migrations"
LATEST = "__latest__"


def add_fixture_migrations(stack: ThrowawayStack, *names: str) -> list[Path]:
    """Copy fixture migrations into the copy's catalog app. One that depends
    on ``__latest__`` follows the app's newest migration, whichever it is."""
    folder = stack.root / "app" / "catalog" / "migrations"
    latest = max(p.stem for p in folder.glob("0*.py") if "fixture" not in p.stem)
    added = []
    for name in names:
        target = folder / name
        target.write_text((FIXTURE_MIGRATIONS / name).read_text().replace(LATEST, latest))
        added.append(target)
    return added


class AdminClient:
    """The Django admin at ``base_url``, logged in, posting forms as a browser
    does (the CSRF cookie and token, a Referer)."""

    def __init__(self, base_url: str, username: str, password: str, verify: str | bool = True):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = verify
        login = self.post(
            "/admin/login/", {"username": username, "password": password, "next": "/admin/"}
        )
        assert login.url.endswith("/admin/"), login.text[:500]

    def get(self, path: str) -> requests.Response:
        response = self.session.get(self.base_url + path, timeout=30)
        response.raise_for_status()
        return response

    def post(self, path: str, data: dict, files: dict | None = None) -> requests.Response:
        url = self.base_url + path
        self.session.get(url, timeout=10).raise_for_status()  # the form, and its CSRF cookie
        data = {**data, "csrfmiddlewaretoken": self.session.cookies["csrftoken"]}
        response = self.session.post(
            url, data=data, files=files, headers={"Referer": url}, timeout=30
        )
        response.raise_for_status()
        return response


def wait_for(check, timeout: float, interval: float = 0.5):
    """Poll ``check`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, ValueError) as error:
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last_error})")


@contextlib.contextmanager
def changed_env(stack: ThrowawayStack, **values: str) -> Iterator[None]:
    """The stack's .env with ``values`` for the duration, then as before."""
    before = {name: stack.settings.get(name, "") for name in values}
    stack.set_env(**values)
    try:
        yield
    finally:
        stack.set_env(**before)


def select_one_on_the_dev_port(stack: ThrowawayStack) -> tuple:
    """SELECT 1 from the host, through the dev database's published port,
    with the user and password of the stack's .env."""
    with (
        psycopg2.connect(
            host="127.0.0.1",
            port=stack.ports["DEV_DB_PORT"],
            user=stack.settings["POSTGRES_USER"],
            password=stack.settings["POSTGRES_PASSWORD"],
            dbname=stack.settings["POSTGRES_DB"],
            connect_timeout=5,
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1")
        return cursor.fetchone()


def logged_in_pgadmin(stack: ThrowawayStack) -> PgAdminClient:
    """pgAdmin's client, logged in with the stack's .env."""
    client = PgAdminClient(f"http://127.0.0.1:{stack.ports['PGADMIN_PORT']}")
    client.login(
        stack.settings["PGADMIN_DEFAULT_EMAIL"], stack.settings["PGADMIN_DEFAULT_PASSWORD"]
    )
    return client


def item_names(response: requests.Response) -> list[str]:
    return [item["name"] for item in response.json()["items"]]


def admin_css_path(login_page: str) -> str:
    match = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login_page)
    assert match, "the admin page links no hashed base.css"
    return match.group(1)
