"""Browser tests: Playwright for Python driving a real chromium against pytest-django's live server.

The browser is the system's chromium (Debian's package, /usr/bin/chromium; ``.ci/run`` installs it), or
``CHROMIUM_PATH``; on a machine with neither, Playwright's own download (``playwright install chromium``)
is used if present. Nothing is fetched at test time: axe-core comes inside axe-playwright-python.

Fixtures:
- ``page_for(user=None, width=1366)``: a page in a fresh browser context of that width, signed in as
  ``user`` (a session made by ``force_login``, which counts as password and second factor) or anonymous;
- ``shot(page, name)``: a full-page screenshot in ``var/screenshots/<name>-<width>.png`` (CI keeps them);
- ``assert_accessible(page)``: axe-core over the page; fails naming every serious or critical violation;
- ``assert_no_horizontal_scroll(page)``: the page fits its viewport's width.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are still ordinary synchronous calls, so Django's async-safety guard is lifted here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PHONE_HEIGHT, DESKTOP_HEIGHT = 844, 900


def _chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = _chromium_path()
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        except Exception as exc:  # no system chromium and no Playwright download: say what to install
            pytest.fail(
                f"No chromium to drive ({exc.__class__.__name__}): install Debian's `chromium` package "
                "(`.ci/run` does) or set CHROMIUM_PATH",
                pytrace=False,
            )
        yield launched
        launched.close()


@pytest.fixture
def live_url(live_server) -> str:
    return live_server.url


@pytest.fixture
def page_for(browser, live_server):
    contexts = []

    def _page(user=None, width: int = 1366):
        height = PHONE_HEIGHT if width < 600 else DESKTOP_HEIGHT
        context = browser.new_context(
            viewport={"width": width, "height": height},
            base_url=live_server.url,
            locale="en-US",
            timezone_id=settings.TIME_ZONE,
            is_mobile=width < 600,
            has_touch=width < 600,
        )
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)  # tests/conftest.py: counts as password + second factor
            cookie = client.cookies[settings.SESSION_COOKIE_NAME]
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield _page
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shot(page, name: str) -> Path:
        width = page.viewport_size["width"] if page.viewport_size else 0
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response.get("violations", []):
        if violation.get("impact") in impacts:
            targets = [", ".join(node.get("target", [])) for node in violation.get("nodes", [])][:5]
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


@pytest.fixture
def assert_accessible():
    def _check(page) -> None:
        found = axe_violations(page)
        assert not found, f"{page.url}: axe-core found serious/critical violations:\n" + "\n".join(found)

    return _check


@pytest.fixture
def assert_no_horizontal_scroll():
    def _check(page) -> None:
        # Against the width the test asked for: a phone without a viewport tag would widen innerWidth.
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        width = page.viewport_size["width"]
        assert wide <= width, f"{page.url}: content is {wide} px wide in a {width} px viewport"

    return _check


def pytest_collection_modifyitems(items):
    """Every browser test is marked ``browser`` and runs against committed data (the live server's thread
    has its own connection), flushed afterwards with TRUNCATE ... CASCADE over every app: the usage app's
    raw-SQL partitioned table refers to meters, which a plain flush cannot truncate."""
    from django.apps import apps

    every_app = [config.name for config in apps.get_app_configs()]
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if item.get_closest_marker("django_db") is None:
                item.add_marker(pytest.mark.django_db(transaction=True, available_apps=every_app))
