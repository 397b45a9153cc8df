"""No single suite file can take down another suite (issue 20.1, 20.2, 24.8), through a REAL parse.

Each bad file is put beside good suites in a temp CEKURA_SUITES_DIR, and dags/cekura_regression_suites.py is
parsed by a real DagBag and serialized the way the dag-processor does (`_serialize_dags`): an exception at
import, a DAG the bag refuses, or one that fails to serialize would record an import error against the DAG
file, and the dag-processor then drops every suite DAG of that file (seen: 4 → 0 and 61 → 0). The property:
every good suite's DAG is there, the file has no import error, and the bad file is reported against itself
(a placeholder DAG that names the file, plus a warning whose filename is the suite file).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "cekura_regression_suites.py"

GOOD = {
    "good_alpha.yaml": "suite: good_alpha\nagent: 101\nscenarios: [2001, 2002]\nschedule: '0 3 * * *'\n",
    "good_byo.yaml": (
        "suite: good_byo\nagent: 101\nscenarios: [2001]\nmode: bring_your_own_rooms\n"
        "livekit_agent_name: acme\nschedule: '@daily'\n"
    ),
    "zz_good_chat.yaml": "suite: good_chat\nagent: 101\nscenarios: [2001]\nmode: chat\nlivekit_agent_name: acme\n",
}

#: ≥ 15 kinds of bad file (name → bytes). Each must cost only its own DAG.
BAD: dict[str, bytes] = {
    "typo_preset.yaml": b"suite: typo_preset\nagent: 101\nscenarios: [1]\nschedule: '@dailly'\n",
    "bad_cron.yaml": b"suite: bad_cron\nagent: 101\nscenarios: [1]\nschedule: '61 * * * *'\n",
    "continuous.yaml": b"suite: continuous\nagent: 101\nscenarios: [1]\nschedule: '@continuous'\n",
    "bad_yaml.yaml": b"suite: bad_yaml\nagent: 101\n  scenarios: [1]\n",
    "dup_keys.yaml": b"suite: dup_keys\nagent: 101\nscenarios: [1]\nfrequency: 2\nfrequency: 100\n",
    "byo_v2_option.yaml": (
        b"suite: byo_v2_option\nagent: 101\nscenarios: [1]\nmode: bring_your_own_rooms\n"
        b"livekit_agent_name: acme\npersonality_ids: [7]\n"
    ),
    "chat_v2_option.yaml": (
        b"suite: chat_v2_option\nagent: 101\nscenarios: [1]\nmode: chat\nlivekit_agent_name: a\n"
        b"concurrency_limit: 2\n"
    ),
    "unknown_key.yaml": b"suite: unknown_key\nagent: 101\nscenarios: [1]\nschedul: '@daily'\n",
    "wrong_types.yaml": b"suite: wrong_types\nagent: [101]\nscenarios: 'many'\nretries: yes\n",
    "huge_numbers.yaml": b"suite: huge_numbers\nagent: 1000000000000000000000000\nscenarios: [1e400]\n",
    "unicode_digits.yaml": "suite: unicode_digits\nagent: '²'\nscenarios: ['٣']\n".encode(),
    "surrogate.yaml": b'suite: surrogate\nagent: 101\nscenarios: [1]\ndescription: "x \\udc80"\n',
    "latin1.yaml": "suite: latin1\nagent: 101\nscenarios: [1]\ndescription: café\n".encode("latin-1"),
    "empty.yaml": b"",
    "top_list.yaml": b"- suite: top_list\n- agent: 101\n",
    "scalar.yaml": b"just a sentence\n",
    "stray_quarantine.yaml": b"suite: stray_quarantine\nagent: 101\nscenarios: [1]\nquarantine: [9]\n",
    "nan_poll.yaml": b"suite: nan_poll\nagent: 101\nscenarios: [1]\npoll_interval: .nan\n",
    "too_many_runs.yaml": b"suite: too_many_runs\nagent: 101\nscenarios: [1, 2, 3]\nfrequency: 100\n",
    "copy_of_alpha.yaml": b"suite: good_alpha\nagent: 999\nscenarios: [1]\n",  # 20.2: a copy, id unchanged
    "good_byo.yml": b"suite: good_byo\nagent: 5\nscenarios: [1]\n",  # same stem as a good suite: no clash
    "deep.yaml": b"suite: deep\nagent: 101\nscenarios: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "anchors.yaml": b"a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nsuite: anchors\nagent: 101\nscenarios: *b\n",
}


def _parse(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict, list[warnings.WarningMessage]]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.dag_processing.processor import _serialize_dags
    from structlog import get_logger

    monkeypatch.setenv("CEKURA_SUITES_DIR", str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(DAG_FILE))
    serialized, errors = _serialize_dags(bag, get_logger())
    assert len(serialized) == len(bag.dags)
    return bag.dags, {**bag.import_errors, **errors}, list(caught)


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def test_good_suites_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "s", {k: v.encode() for k, v in GOOD.items()})
    dags, errors, _ = _parse(tmp_path / "s", monkeypatch)
    assert errors == {}
    assert set(dags) == {
        "cekura_regression_good_alpha",
        "cekura_regression_good_byo",
        "cekura_regression_good_chat",
    }
    alpha = dags["cekura_regression_good_alpha"]  # 20.8: says where the file really was read from
    assert str(tmp_path / "s" / "good_alpha.yaml") in alpha.doc_md
    assert alpha.description.endswith(f"(from {tmp_path / 's' / 'good_alpha.yaml'})")


@pytest.mark.parametrize("bad", sorted(BAD))
def test_one_bad_file_costs_only_its_own_dag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    folder = tmp_path / "s"
    _write(folder, {**{k: v.encode() for k, v in GOOD.items()}, bad: BAD[bad]})
    dags, errors, caught = _parse(folder, monkeypatch)
    assert errors == {}, f"{bad} caused an import error for the whole DAG file"
    good = {d for d in dags if "broken-suite" not in dags[d].tags}
    assert good == {
        "cekura_regression_good_alpha",
        "cekura_regression_good_byo",
        "cekura_regression_good_chat",
    }
    assert dags["cekura_regression_good_alpha"].params["agent"] == 101  # the original, not a copy
    placeholders = [d for d in dags.values() if "broken-suite" in d.tags]
    assert len(placeholders) == 1, f"{bad}: {[d.dag_id for d in placeholders]}"
    assert placeholders[0].description.startswith(f"BROKEN suite file {bad}")
    assert f"{bad}: " in placeholders[0].doc_md  # the problem names the file
    assert any(str(w.filename) == str(folder / bad) for w in caught)


def test_every_bad_file_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "s"
    _write(folder, {**{k: v.encode() for k, v in GOOD.items()}, **BAD})
    dags, errors, _ = _parse(folder, monkeypatch)
    assert errors == {}
    placeholders = {
        d.description.split(" ")[3].rstrip(":") for d in dags.values() if "broken-suite" in d.tags
    }
    assert placeholders == set(BAD)
    assert len(dags) == len(GOOD) + len(BAD)  # no placeholder replaced a working DAG, none replaced another
