"""Tests mirror the package (issue 18 item 6): `plugins/cekura_livekit/<path>/<mod>.py` is tested in
`tests/<path>/test_<mod>.py` or `tests/<path>/test_<mod>_<aspect>.py`.

Why: a module tested only through an operator (as `batch/spec` and `batch/submit` were) has its own edge cases and
errors untested, and a reader looking for a module's tests should find them by its path, not by searching.
`NOT_YET_MIRRORED` lists the modules still without their file; it may only shrink: a module that gains its file
must leave the list (else the test fails), and a new module must come with its file.
"""

from __future__ import annotations

from pathlib import Path

import cekura_livekit

PACKAGE = Path(cekura_livekit.__file__).parent
TESTS = Path(__file__).resolve().parents[1]

#: Modules (relative to the package) whose mirrored test file does not exist yet. Empty since wave 2 of issue 18;
#: it may only shrink, so it stays empty: a new module comes with its test file. Never add to it.
NOT_YET_MIRRORED: frozenset[str] = frozenset()


def modules() -> list[str]:
    """Every module of the package except the `__init__.py` files, as POSIX paths relative to the package."""
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def mirrored_tests(module: str, tests: Path = TESTS) -> list[Path]:
    """The test files that mirror `module` (`a/b.py` → `tests/a/test_b.py` or `tests/a/test_b_<aspect>.py`)."""
    rel = Path(module)
    folder = tests / rel.parent
    exact = folder / f"test_{rel.stem}.py"
    return sorted({*([exact] if exact.is_file() else []), *folder.glob(f"test_{rel.stem}_*.py")})


def test_the_rule_finds_the_exact_and_the_aspect_files(tmp_path: Path) -> None:
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "test_spec.py").write_text("")
    (tmp_path / "batch" / "test_submit_names.py").write_text("")
    (tmp_path / "test_links.py").write_text("")
    assert mirrored_tests("batch/spec.py", tmp_path) == [tmp_path / "batch" / "test_spec.py"]
    assert mirrored_tests("batch/submit.py", tmp_path) == [tmp_path / "batch" / "test_submit_names.py"]
    assert mirrored_tests("links.py", tmp_path) == [tmp_path / "test_links.py"]
    assert mirrored_tests("batch/links.py", tmp_path) == []  # the folder counts, not only the name
    assert mirrored_tests("warehouse/engines/base.py", tmp_path) == []


def test_every_module_has_its_mirrored_test_file() -> None:
    missing = [m for m in modules() if m not in NOT_YET_MIRRORED and not mirrored_tests(m)]
    assert not missing, (
        f"modules without a mirrored test file: {missing}. Write tests/<path>/test_<mod>.py (or "
        "test_<mod>_<aspect>.py) with direct tests of the module's public functions, or move its existing tests there"
    )


def test_the_not_yet_mirrored_set_only_shrinks() -> None:
    gained = sorted(m for m in NOT_YET_MIRRORED if mirrored_tests(m))
    assert not gained, f"{gained} now have their mirrored test file: remove them from NOT_YET_MIRRORED"
    gone = sorted(NOT_YET_MIRRORED - set(modules()))
    assert not gone, f"{gone} are no longer modules of the package: remove them from NOT_YET_MIRRORED"
