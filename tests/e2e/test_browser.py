"""A real browser on the stack: Debian's headless Chromium driven by Playwright
(never `playwright install`: the browser comes from apt, see .ci/run).

In dev: log into pgAdmin, open the preconfigured server and run SELECT 1 in
the query tool; log into the Django admin as the superuser run.sh created and
find the example model. In prod: the admin's CSS is applied (computed
styles, not only a 200). Screenshots go to test-artifacts/ in the checkout
that runs the tests. The module has its own throwaway project.
"""

import os
import pathlib
import secrets
import shutil

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tools.throwaway import REPO_DIR, THROUGH_PROXY, production_settings, strong_secret

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
ARTIFACTS = REPO_DIR / "test-artifacts"
# pgAdmin is a heavy single-page app; on a busy two-core machine it is slow.
UI_TIMEOUT_MS = 60_000

if not CHROMIUM and not os.environ.get("CI"):
    pytest.skip(
        "chromium is not installed (apt-get install chromium); CI installs it",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.fail("chromium is not installed, and CI must run the browser tests (.ci/run)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def screenshot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"browser-{name}.png")


@pytest.fixture(scope="module")
def dev(own_stack):
    own_stack.write_env(
        SECRET_KEY=strong_secret(),
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.org",
        DJANGO_SUPERUSER_PASSWORD=secrets.token_urlsafe(16),
    )
    own_stack.run_sh("-1", "-s")
    return own_stack


@pytest.fixture(scope="module")
def prod(own_stack):
    own_stack.run_sh("down")  # the dev stack of the tests above
    own_stack.write_env(**production_settings())
    own_stack.run_sh("-0")
    return own_stack


def test_pgadmin_runs_select_1_on_the_preconfigured_server(dev, page):
    page.goto(f"http://127.0.0.1:{dev.ports['PGADMIN_PORT']}/login")
    page.get_by_placeholder("Email Address / Username").fill(dev.settings["PGADMIN_DEFAULT_EMAIL"])
    page.get_by_placeholder("Password").fill(dev.settings["PGADMIN_DEFAULT_PASSWORD"])
    page.get_by_role("button", name="Login").click()

    # The server registered from .env opens with one click: no password asked.
    tree = page.locator("#id-object-explorer")
    tree.get_by_text("Servers", exact=True).dblclick()
    tree.get_by_text(f"dev database ({dev.settings['POSTGRES_DB']})", exact=True).click()
    expect(page.get_by_text("Server connected.")).to_be_visible()
    expect(page.get_by_placeholder("Password")).to_have_count(0)
    tree.get_by_text("Databases", exact=True).dblclick()
    tree.get_by_text(dev.settings["POSTGRES_DB"], exact=True).click()

    # The query tool opens in a frame of its own tab.
    page.get_by_role("button", name="Tools").click()
    page.get_by_role("menuitem", name="Query Tool").click()
    tool = page.locator("iframe[id^='id-query-tool']").filter(visible=True).content_frame
    editor = tool.locator(".cm-content").filter(visible=True)
    editor.click()
    page.keyboard.type("SELECT 1")
    page.keyboard.press("F5")  # Execute
    expect(tool.get_by_text("Total rows: 1")).to_be_visible()
    expect(tool.get_by_role("columnheader", name="?column?")).to_be_visible()
    expect(tool.locator("[role=gridcell][aria-colindex='2']")).to_have_text("1")
    screenshot(page, "pgadmin-select-1")


def test_django_admin_lists_the_example_model_for_the_superuser(dev, page):
    dev.psql(
        "dev",
        "INSERT INTO catalog_item (name, description, created_at) "
        "VALUES ('seen in a browser', '', now())",
    )
    page.goto(dev.url("dev", "/admin/login/"))
    page.get_by_label("Username").fill(dev.settings["DJANGO_SUPERUSER_USERNAME"])
    page.get_by_label("Password").fill(dev.settings["DJANGO_SUPERUSER_PASSWORD"])
    page.get_by_role("button", name="Log in").click()

    catalog = page.locator(".app-catalog")
    expect(catalog.get_by_role("link", name="Catalog")).to_be_visible()
    catalog.get_by_role("link", name="Items", exact=True).click()
    expect(page.get_by_role("heading", name="Select item to change")).to_be_visible()
    expect(page.get_by_role("link", name="seen in a browser")).to_be_visible()
    screenshot(page, "django-admin-items")


def test_an_admin_upload_in_dev_is_served_by_runserver_from_the_dev_volume(dev, page, tmp_path):
    upload = tmp_path / "site plan.pdf"
    upload.write_bytes(b"%PDF-1.4\n" + os.urandom(30_000))
    page.goto(dev.url("dev", "/admin/login/?next=/admin/catalog/item/add/"))
    page.get_by_label("Username").fill(dev.settings["DJANGO_SUPERUSER_USERNAME"])
    page.get_by_label("Password").fill(dev.settings["DJANGO_SUPERUSER_PASSWORD"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Name").fill("uploaded in a browser")
    page.get_by_label("Attachment").set_input_files(upload)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("was added successfully")).to_be_visible()
    screenshot(page, "django-admin-upload")

    items = requests.get(dev.url("dev", "/api/items/"), timeout=10).json()["items"]
    path = next(item["attachment"] for item in items if item["name"] == "uploaded in a browser")
    served = requests.get(dev.url("dev", path), timeout=10)
    assert served.status_code == 200
    assert served.content == upload.read_bytes()
    # On the dev media volume, not production's, and not in the working tree.
    mounts = {m["Destination"]: m for m in dev.inspect("dev", "web")["Mounts"]}
    assert mounts["/srv/media"]["Name"] == f"{dev.project}_media-dev-data"
    name = path.removeprefix("/media/")
    assert (
        dev.compose("dev", "exec", "-T", "web", "test", "-f", f"/srv/media/{name}").returncode == 0
    )
    assert not list(dev.root.glob(f"**/{pathlib.PurePath(name).name}"))


def test_prod_admin_login_page_has_its_css_applied(prod, page):
    page.set_extra_http_headers(THROUGH_PROXY)  # as production's TLS proxy would
    response = page.goto(prod.url("prod", "/admin/login/"))
    assert response.status == 200
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    styles = page.evaluate(
        """() => {
            const sheet = [...document.styleSheets].find(
                (s) => s.href && /\\/static\\/admin\\/css\\/base\\.[0-9a-f]{12}\\.css$/.test(s.href));
            return {
                baseRules: sheet ? sheet.cssRules.length : 0,
                bodyMargin: getComputedStyle(document.body).margin,
                headerBackground: getComputedStyle(document.querySelector("#header")).backgroundColor,
                submitBackground: getComputedStyle(
                    document.querySelector("input[type=submit]")).backgroundColor,
            };
        }"""
    )
    screenshot(page, "prod-admin-login")
    # Without base.css: 8px body margin, a transparent header, a grey button.
    assert styles["baseRules"] > 100, styles
    assert styles["bodyMargin"] == "0px", styles
    assert styles["headerBackground"] not in ("rgba(0, 0, 0, 0)", "transparent"), styles
    assert styles["submitBackground"] != "rgb(239, 239, 239)", styles
