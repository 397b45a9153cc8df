"""The UI in headless Chromium against the LocalExecutor stack's api-server: log in with the simple auth manager,
the "Cekura result" button on the task instance, and the Cekura / LiveKit connection forms.
Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import REGRESSION_DAG, AirflowStack, RegressionRun

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
            pg.wait_for_load_state("networkidle")  # translations and the dashboard's data
            pg.screenshot(path=str(ARTIFACTS / "01-home.png"))
            yield pg
        finally:
            browser.close()


def test_simple_auth_manager_login(page: Any, local_stack: AirflowStack) -> None:
    """The fixture logged in through the simple auth manager's form; the UI shell is served."""
    assert "/auth/login" not in page.url
    assert page.locator("a[href='/dags']").count() >= 1


def test_task_instance_shows_the_cekura_result_link(
    page: Any, local_stack: AirflowStack, local_run: RegressionRun
) -> None:
    dashboard = local_stack.xcom(REGRESSION_DAG, local_run.run_id, "run_scenarios", "dashboard_url")
    # Airflow 3.3 shows extra links under "Extra Links" on the task instance's Details tab.
    page.goto(
        f"{local_stack.api_url}/dags/{REGRESSION_DAG}/runs/{local_run.run_id}/tasks/run_scenarios/details"
    )
    link = page.locator("a", has_text="Cekura result").first
    link.wait_for()
    page.screenshot(path=str(ARTIFACTS / "02-task-instance-link.png"), full_page=True)
    assert page.get_by_text("Extra Links").count() == 1
    assert link.get_attribute("href") == dashboard


def _connection_form(page: Any, stack: AirflowStack, conn_type: str) -> Any:
    page.goto(f"{stack.api_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    combo = page.locator("[role=dialog] input[aria-autocomplete=list]").first
    combo.click()
    combo.fill(conn_type)
    page.get_by_role("option", name=conn_type, exact=True).click()
    dialog = page.locator("[role=dialog]").first
    dialog.locator("input[name=host]").wait_for()
    return dialog


def _placeholders(dialog: Any) -> dict[str, str]:
    fields = dialog.locator("input[name], textarea[name]").all()
    return {f.get_attribute("name"): f.get_attribute("placeholder") or "" for f in fields}


def test_cekura_connection_form(page: Any, local_stack: AirflowStack) -> None:
    dialog = _connection_form(page, local_stack, "Cekura")
    page.screenshot(path=str(ARTIFACTS / "03-connection-cekura.png"), full_page=True)
    text = dialog.inner_text()
    assert "Cekura API base URL" in text
    assert "Cekura API key" in text
    fields = _placeholders(dialog)
    assert {"host", "password"} <= set(fields)
    assert not {"login", "port", "schema"} & set(fields), fields
    # The provider's conn-fields, dashboard_url included, are form fields (under "Extra Fields").
    assert {"element_timeout", "element_chunk_size", "element_dashboard_url"} <= set(fields), fields


def test_livekit_connection_form(page: Any, local_stack: AirflowStack) -> None:
    dialog = _connection_form(page, local_stack, "LiveKit")
    page.screenshot(path=str(ARTIFACTS / "04-connection-livekit.png"), full_page=True)
    text = dialog.inner_text()
    for label in ("LiveKit server URL", "API key", "API secret"):
        assert label in text
    fields = _placeholders(dialog)
    assert not {"port", "schema"} & set(fields), fields
    assert fields["host"] == "wss://my-project.livekit.cloud"
    # Placeholders say something the label does not, the secret included.
    assert fields["login"] not in {"", "API key"}
    assert fields["password"] not in {"", "API secret"}
