"""The page templates: autoescaped, shipped in the wheel, and found by an installed (non-editable) package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from cekura_livekit.report.page import environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(
    p.name for p in (ROOT / "plugins" / "cekura_livekit" / "report" / "templates").glob("*.html")
)

RENDER = """
import sys
from datetime import UTC, date, datetime
import pandas as pd
import cekura_livekit
from cekura_livekit.report import build_report_html
daily = pd.DataFrame({
    "run_date": [date(2024, 5, 1), date(2024, 5, 2)], "agent_id": [1, 1], "agent_name": ["<b>A</b>"] * 2,
    "scenario_id": [7, 7], "scenario_name": ["S & T"] * 2, "passed": [8, 9], "failed_evaluation": [2, 1],
})
sys.stdout.write(cekura_livekit.__file__ + "\\n")
sys.stdout.write(build_report_html(daily, None, None, generated_at=datetime(2024, 5, 3, tzinfo=UTC)))
"""


def test_autoescape_is_on_for_every_template() -> None:
    env = environment()
    assert TEMPLATES
    for name in TEMPLATES:
        template = env.get_template(name)
        assert env.autoescape is True or env.autoescape(template.name), name
    macros = env.get_template("macros.html").module
    assert (
        str(macros.no_data("<i>x</i> & y")).strip() == '<p class="no-data">&lt;i&gt;x&lt;/i&gt; &amp; y</p>'
    )


def test_templates_are_package_resources() -> None:
    """Loaded through the package (importlib.resources), the way a wheel install finds them."""
    shipped = resources.files("cekura_livekit.report").joinpath("templates")
    assert sorted(p.name for p in shipped.iterdir() if p.name.endswith(".html")) == TEMPLATES


@pytest.mark.slow
def test_wheel_ships_the_templates_and_an_installed_copy_renders(tmp_path: Path) -> None:
    # Build from a clean copy: an in-tree build/ left by an earlier build could smuggle stale files in.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "*.egg-info",
            "artifacts",
            ".airflow*",
            ".*cache",
            "__pycache__",
            ".demo",
        ),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, source],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in TEMPLATES:
        assert f"cekura_livekit/report/templates/{name}" in names, name

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, wheel],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", RENDER], check=True, capture_output=True, text=True, cwd=tmp_path, env=env
    ).stdout
    where, html = out.split("\n", 1)
    assert Path(where).is_relative_to(target), where  # the installed copy, not the checkout
    assert html.startswith("<!DOCTYPE html>")
    assert 'data-chart="success-rate"' in html
    assert "&lt;b&gt;A&lt;/b&gt;" in html
    assert "<b>A</b>" not in html
