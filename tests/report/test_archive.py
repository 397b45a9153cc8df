"""The weekly reports' archive: dated file names, an index that lists exactly the dated reports newest first
(escaped, self-contained), rebuilt from the folder's listing every time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cekura_livekit.report.archive import dated_name, index_html, write_index
from cekura_livekit.report.output import MARKER


def test_dated_names_sort_by_day() -> None:
    assert dated_name(date(2024, 3, 4)) == "cekura_report_2024-03-04.html"
    days = [date(2024, 12, 30), date(2024, 1, 2), date(2023, 12, 31)]
    assert sorted(dated_name(d) for d in days) == [dated_name(d) for d in sorted(days)]


def test_the_index_lists_only_dated_reports_newest_first() -> None:
    names = [
        "cekura_report_2024-03-04.html",
        "index.html",
        "cekura_report_2024-02-26.html",
        "cekura_report_2024-03-11.html",
        "cekura_report_latest.html",
        "cekura_report_2024-03-11.html.bak",
        "notes.txt",
    ]
    page = index_html(names)
    assert page.startswith(f"<!DOCTYPE html>{MARKER}")  # ours: a later write may overwrite it
    assert "3 report(s), newest first." in page
    links = [part.split('"')[0] for part in page.split('<a href="')[1:]]
    assert links == [
        "cekura_report_2024-03-11.html",
        "cekura_report_2024-03-04.html",
        "cekura_report_2024-02-26.html",
    ]
    assert "http" not in page.replace("http-equiv", "")  # opens offline: nothing fetched


def test_an_empty_folder_says_so() -> None:
    page = index_html([])
    assert "0 report(s)" in page
    assert "No weekly reports yet." in page
    assert "<a " not in page


def test_write_index_rebuilds_from_the_folder(tmp_path: Path) -> None:
    for day in (date(2024, 3, 4), date(2024, 3, 11)):
        (tmp_path / dated_name(day)).write_text(f"<!DOCTYPE html>{MARKER}report")
    where, count = write_index(str(tmp_path))
    assert count == 2
    assert Path(where) == tmp_path / "index.html"
    assert "cekura_report_2024-03-11.html" in (tmp_path / "index.html").read_text()
    (tmp_path / dated_name(date(2024, 3, 4))).unlink()
    _, count = write_index(str(tmp_path) + "/")  # a trailing slash is the same folder
    assert count == 1
    assert "2024-03-04" not in (tmp_path / "index.html").read_text()


def test_a_missing_local_folder_gets_an_empty_index(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    where, count = write_index(str(folder))
    assert count == 0
    assert "No weekly reports yet." in Path(where).read_text()


def test_an_object_store_folder_is_listed_through_airflow(tmp_path: Path) -> None:
    (tmp_path / dated_name(date(2024, 3, 4))).write_text(f"<!DOCTYPE html>{MARKER}report")
    where, count = write_index(f"file://{tmp_path}")
    assert count == 1
    assert where.endswith("/index.html")
    assert "cekura_report_2024-03-04.html" in (tmp_path / "index.html").read_text()
