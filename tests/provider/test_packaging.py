"""The provider wheel ships the provider only: the sandbox is its own distribution, never part of this one.

Builds the wheel the way a user or the Dockerfile does (`pip wheel --no-deps` of the project) from a copy of the
sources, so the build never writes into the working tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins" / "cekura_livekit"
SANDBOX_MODULE = re.compile(r"(^|/)(cekura_)?sandbox(/|\.py$)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "plugins", src / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp / "out"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        check=True,
        timeout=240,
    )
    (path,) = out.glob("airflow_provider_cekura_livekit-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


@pytest.mark.slow
def test_wheel_holds_the_provider_and_no_sandbox_module(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "cekura_livekit/__init__.py" in names
    assert "cekura_livekit/py.typed" in names
    assert [n for n in names if SANDBOX_MODULE.search(n)] == []
    assert [n for n in names if "sandbox" in n.lower()] == []  # no catalogue YAML either


@pytest.mark.slow
def test_wheel_declares_no_sandbox_script_or_extra(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "apache_airflow_provider" in text
    assert "sandbox" not in text
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    extras = re.findall(r"^Provides-Extra: (.+)$", wheel.read(metadata).decode(), re.MULTILINE)
    assert "sandbox" not in extras


def test_provider_never_imports_the_sandbox() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"cekura_sandbox|cekura_livekit\.sandbox", path.read_text("utf-8"))
    ]
    assert offenders == []
    assert not (PACKAGE / "sandbox").exists()
