"""Catalogue files: the packaged default and a custom YAML, with clear errors for bad ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cekura_sandbox.catalogue import load_catalogue


def test_default_catalogue_is_interesting() -> None:
    cat = load_catalogue()
    assert len(cat.agents) >= 2
    assert 8 <= len(cat.scenarios) <= 12
    flaky = [s for s in cat.scenarios.values() if 0.6 <= s.pass_rate <= 0.8]
    healthy = [s for s in cat.scenarios.values() if 0.9 <= s.pass_rate <= 0.99]
    assert flaky
    assert len(healthy) > len(flaky)
    regressing = [s for s in cat.scenarios.values() if s.regression_from is not None]
    assert len(regressing) == 1
    (reg,) = regressing
    assert reg.pass_rate_on(dt.date(2026, 11, 14)) == 0.95
    assert reg.pass_rate_on(dt.date(2026, 11, 15)) == 0.55


def test_custom_catalogue_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "cat.yaml"
    good.write_text(
        "agents: [{id: 1, name: A, project: 9, livekit: {agent_name: a}}]\n"
        "metrics: [{id: 5, name: M, type: binary_qualitative}]\n"
        "scenarios: [{id: 10, name: S, agent: 1, pass_rate: 0.5, duration: [10, 20], metrics: [5]}]\n"
    )
    cat = load_catalogue(good)
    assert cat.scenarios[10].pass_rate == 0.5
    assert cat.agents[1].livekit_agent_name == "a"
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: [{id: 1}]\nscenarios: [{id: 10, agent: 2}]\n")
    with pytest.raises(ValueError, match="agent 2"):
        load_catalogue(bad)
    with pytest.raises(ValueError, match="not a file"):
        load_catalogue(tmp_path / "missing.yaml")
    rate = tmp_path / "rate.yaml"
    rate.write_text("agents: [{id: 1}]\nscenarios: [{id: 10, agent: 1, pass_rate: 1.5}]\n")
    with pytest.raises(ValueError, match="pass_rate"):
        load_catalogue(rate)
