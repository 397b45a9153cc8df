"""Where the report is written: local paths, object storage, and rejected input."""

from __future__ import annotations

from pathlib import Path

import pytest

from cekura_livekit.report import write_report
from cekura_livekit.report.output import MARKER

# ------------------------------------------------------------------------------------------ output


def test_write_report_local_paths(tmp_path: Path, html: str) -> None:
    target = tmp_path / "nested" / "dir" / "report.html"
    where = write_report(html, target)
    assert where == str(target.resolve())
    assert target.read_text(encoding="utf-8") == html
    # A directory gets the default file name; str paths work too.
    where_dir = write_report(html, str(tmp_path / "nested"))
    assert where_dir == str((tmp_path / "nested" / "cekura-report.html").resolve())
    assert Path(where_dir).read_text(encoding="utf-8") == html
    # Overwrite is atomic and leaves no temporary files behind; a page without the marker gets it.
    write_report("<p>v2</p>", target)
    assert target.read_text() == f"{MARKER}\n<p>v2</p>"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_write_report_object_storage(tmp_path: Path, html: str) -> None:
    from airflow.sdk import ObjectStoragePath

    uri = f"file://{tmp_path}/store/report.html"
    assert write_report(html, uri) == uri
    assert (tmp_path / "store" / "report.html").read_text(encoding="utf-8") == html

    osp = ObjectStoragePath(f"file://{tmp_path}/osp/r.html")
    assert write_report(html, osp) == str(osp)
    assert (tmp_path / "osp" / "r.html").read_text(encoding="utf-8") == html

    # A non-local store (fsspec's in-memory filesystem attached the way a team would attach S3).
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    mem = ObjectStoragePath(f"memory://cekura-test-{tmp_path.name}/reports/latest.html")
    assert write_report(html, mem) == str(mem)
    assert mem.read_text(encoding="utf-8") == html


def test_write_report_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="html must be a non-empty string"):
        write_report("  ", tmp_path / "r.html")
    with pytest.raises(ValueError, match="html must be a non-empty string"):
        write_report(b"<html>", tmp_path / "r.html")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="destination must be"):
        write_report("<p>x</p>", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="destination must be"):
        write_report("<p>x</p>", "")
    assert not list(tmp_path.iterdir())
