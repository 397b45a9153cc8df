"""docs/reference.md documents every argument of every public class, with the default the code really has."""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
REFERENCE = DOCS / "reference.md"


def _classes() -> list[Any]:
    from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
    from cekura_livekit.operators.warehouse import CekuraResultsToWarehouseOperator
    from cekura_livekit.sensors.runs import CekuraRunsSensor
    from cekura_livekit.triggers.runs import CekuraRunsTrigger

    return [
        CekuraRunLiveKitScenariosOperator,
        CekuraRunsSensor,
        CekuraRunsTrigger,
        CekuraResultsToWarehouseOperator,
    ]


def _section(text: str, title: str) -> str:
    """The markdown between `## <title>` and the next `## ` heading."""
    match = re.search(rf"^## `?{re.escape(title)}`?\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"no section '## {title}'"
    return match.group(1)


def _rows(section: str) -> dict[str, str]:
    """`| \\`name\\` | default | … |` rows → {name: default cell}."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def _shown(default: Any) -> str:
    if default is inspect.Parameter.empty or default is MISSING:
        return "required"
    if isinstance(default, str):
        return repr(default)
    return repr(default)


@pytest.mark.parametrize("cls", _classes(), ids=lambda c: c.__name__)
def test_every_argument_is_documented_with_its_real_default(cls: Any) -> None:
    rows = _rows(_section(REFERENCE.read_text(), cls.__name__))
    params = {
        n: p.default
        for n, p in inspect.signature(cls.__init__).parameters.items()
        if n not in {"self", "kwargs"}
    }
    missing = sorted(set(params) - set(rows))
    assert not missing, f"{cls.__name__}: undocumented arguments {missing}"
    stale = sorted(set(rows) - set(params))
    assert not stale, f"{cls.__name__}: documented arguments that no longer exist {stale}"
    for name, default in params.items():
        if name == "deferrable":
            continue  # follows [operators] default_deferrable: documented as such
        assert _shown(default) in rows[name].replace("`", ""), f"{cls.__name__}.{name}: default {default!r}"


def test_every_suite_key_is_documented() -> None:
    from cekura_livekit.suites import Suite

    rows = _rows(_section((DOCS / "suites.md").read_text(), "Keys"))
    keys = {f.name for f in fields(Suite)} - {"source"}
    assert not sorted(keys - set(rows)), f"undocumented suite keys {sorted(keys - set(rows))}"
    assert not sorted(set(rows) - keys), f"documented suite keys that do not exist {sorted(set(rows) - keys)}"
