"""The UI in headless Chromium against the LocalExecutor stack's api-server: log in with the simple auth manager,
the "Cekura result" button on the task instance, and the Cekura / LiveKit connection forms.
Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import AirflowStack

pytestmark = [pytest.mark.e2e, pytest.mark.chromium, pytest.mark.postgres, pytest.mark.timeout(600)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="module")
def page(local_stack: AirflowStack) -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("Debian chromium is not installed (make chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 900})
            pg.set_default_timeout(30_000)
            pg.goto(f"{local_stack.api_url}/")
            pg.fill("input[name=username]", "admin")
            pg.fill("input[name=password]", local_stack.password)
            pg.keyboard.press("Enter")
            pg.wait_for_url(lambda url: "/auth/login" not in url)
            pg.screenshot(path=str(ARTIFACTS / "01-home.png"))
            yield pg
        finally:
            browser.close()


def test_simple_auth_manager_login(page: Any, local_stack: AirflowStack) -> None:
    """The fixture logged in through the simple auth manager's form; the UI shell is served."""
    assert "/auth/login" not in page.url
    assert page.locator("a[href='/dags'], a[href$='/dags']").count() >= 1


# Not finished (see the final report of issue 12): the "Cekura result" button on the task instance page and the
# Cekura / LiveKit connection forms still need their selectors checked against the 3.3 UI.
