"""Issue 24.2: a `cekura_report` run's `destination` param is confined to the operator-set report roots, and
the writer never overwrites a file the report did not write. Each attack goes through the real DAG
(`dag.test()` with the param), then the same rules are pinned at the function level."""

from __future__ import annotations

from pathlib import Path

import pytest

from cekura_livekit.report import write_report
from cekura_livekit.report.destination import ReportDestinationError, confine
from cekura_livekit.report.output import MARKER, ForeignFileError
from tests.support.warehouse import WarehouseTarget
from tests.warehouse.test_trends import RunMaker, _load

ROOT = Path(__file__).resolve().parents[2]
FOREIGN = "precious data that is not a report\n"


@pytest.fixture
def report_dag(
    airflow_db: None, sqlite_warehouse: WarehouseTarget, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> object:
    """The bundled `cekura_report` DAG over a small loaded warehouse; reports go to tmp_path/reports."""
    monkeypatch.setenv("CEKURA_WAREHOUSE_CONN_ID", sqlite_warehouse.conn_id)
    monkeypatch.setenv("CEKURA_REPORT_DESTINATION", str(tmp_path / "reports" / "cekura_report.html"))
    monkeypatch.delenv("CEKURA_REPORT_ROOTS", raising=False)
    m = RunMaker()
    _load(
        sqlite_warehouse, [*m.many("2024-03-01", "passed", 3), *m.many("2024-03-01", "failed_evaluation", 1)]
    )
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "cekura_report.py"))
    assert bag.import_errors == {}
    return bag.dags["cekura_report"]


def _run(dag: object, destination: str) -> str:
    return str(dag.test(run_conf={"destination": destination}).state)  # type: ignore[attr-defined]


def _outside(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "victim.html"
    victim.parent.mkdir(parents=True)
    victim.write_text(FOREIGN)
    return victim


def test_a_run_writes_inside_the_roots_and_creates_its_folder(report_dag: object, tmp_path: Path) -> None:
    assert _run(report_dag, "team/cekura.html") == "success"
    written = tmp_path / "reports" / "team" / "cekura.html"
    assert MARKER in written.read_text()[:200]
    assert _run(report_dag, "team/cekura.html") == "success"  # our own report is overwritten


def test_a_run_cannot_overwrite_an_existing_foreign_file(report_dag: object, tmp_path: Path) -> None:
    notes = tmp_path / "reports" / "notes.html"
    notes.parent.mkdir(parents=True)
    notes.write_text(FOREIGN)
    assert _run(report_dag, "notes.html") == "failed"
    assert notes.read_text() == FOREIGN


@pytest.mark.parametrize(
    "attack",
    ["../elsewhere/victim.html", "../../elsewhere/victim.html", "reports/../../elsewhere/victim.html"],
)
def test_a_run_cannot_traverse_out_of_the_roots(report_dag: object, tmp_path: Path, attack: str) -> None:
    victim = _outside(tmp_path)
    assert _run(report_dag, attack) == "failed"
    assert victim.read_text() == FOREIGN


def test_a_run_cannot_use_a_file_url(report_dag: object, tmp_path: Path) -> None:
    victim = _outside(tmp_path)
    assert _run(report_dag, victim.as_uri()) == "failed"
    assert (
        _run(report_dag, f"file://{tmp_path}/reports/x.html") == "failed"
    )  # even inside: scheme not allowed
    assert victim.read_text() == FOREIGN
    assert not (tmp_path / "reports" / "x.html").exists()


def test_a_run_cannot_write_to_an_absolute_path_outside_the_roots(report_dag: object, tmp_path: Path) -> None:
    victim = _outside(tmp_path)
    assert _run(report_dag, str(victim)) == "failed"
    assert _run(report_dag, str(tmp_path / "new-dir" / "r.html")) == "failed"
    assert victim.read_text() == FOREIGN
    assert not (tmp_path / "new-dir").exists()


def test_a_run_cannot_follow_a_symlink_out(report_dag: object, tmp_path: Path) -> None:
    victim = _outside(tmp_path)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "latest.html").symlink_to(victim)
    (reports / "shared").symlink_to(victim.parent, target_is_directory=True)
    assert _run(report_dag, "latest.html") == "failed"
    assert _run(report_dag, "shared/victim.html") == "failed"
    assert _run(report_dag, "shared/new.html") == "failed"
    assert victim.read_text() == FOREIGN
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.html"]


# ------------------------------------------------------------------------------ the rules themselves


def test_confine_names_the_param_the_value_and_the_fix(tmp_path: Path) -> None:
    roots = [str(tmp_path / "reports")]
    with pytest.raises(ReportDestinationError) as info:
        confine("../../etc/passwd", roots)
    message = str(info.value)
    assert "param 'destination' = '../../etc/passwd'" in message
    assert "outside every report root" in message
    assert "CEKURA_REPORT_ROOTS" in message
    assert confine("a/b.html", roots) == str((tmp_path / "reports" / "a" / "b.html").resolve())
    assert confine("a/", roots).endswith("/a/cekura-report.html")
    for bad in ("", "  ", "x\nhtml", "ftp://host/x.html"):
        with pytest.raises(ReportDestinationError):
            confine(bad, roots)
    with pytest.raises(ReportDestinationError, match="names a report root itself"):
        confine(str(tmp_path / "reports" / "."), [*roots, str(tmp_path / "reports" / "x")][:1])


def test_confine_urls_stay_under_an_object_storage_root() -> None:
    roots = ["s3://bucket/reports"]
    assert confine("s3://bucket/reports/team/r.html", roots) == "s3://bucket/reports/team/r.html"
    for bad in (
        "s3://bucket/reports/../secrets/r.html",
        "s3://bucket/reports-other/r.html",
        "s3://other/reports/r.html",
        "gs://bucket/reports/r.html",
        "file:///tmp/r.html",
        "relative.html",  # no local root configured
    ):
        with pytest.raises(ReportDestinationError):
            confine(bad, roots)


def test_the_writer_never_overwrites_a_file_it_did_not_write(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    target.write_text(FOREIGN)
    with pytest.raises(ForeignFileError, match="was not written by the Cekura report"):
        write_report("<p>report</p>", target)
    assert target.read_text() == FOREIGN
    link = tmp_path / "link.html"
    link.symlink_to(tmp_path / "nowhere.html")
    with pytest.raises(ForeignFileError):
        write_report("<p>report</p>", link)
    assert not (tmp_path / "nowhere.html").exists()
