"""Plain helpers of the end-to-end tests (fixtures: tests/plugins/stack.py;
the stack itself: tools/throwaway.py)."""

import contextlib
import re
import time
from collections.abc import Iterator

import requests

from tools.throwaway import ThrowawayStack


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


def item_names(response: requests.Response) -> list[str]:
    return [item["name"] for item in response.json()["items"]]


def admin_css_path(login_page: str) -> str:
    match = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login_page)
    assert match, "the admin page links no hashed base.css"
    return match.group(1)
