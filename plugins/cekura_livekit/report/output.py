"""Where the report goes: a local file by default, any Airflow object store (s3://, gs://, file://...) if asked.

Local writes go through a temporary file and an atomic rename, so a reader (a web server, a sync job) never
sees a half-written report. The writer never overwrites a file the project did not write (issue 24.2): every
page it writes carries `MARKER` near its start, and an existing file without it is refused. Which places a
run may name at all is decided before this, by `report.destination`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

DEFAULT_FILENAME = "cekura-report.html"
#: Written into every page (an HTML comment: allowed before and after the doctype, invisible, no quirks mode).
MARKER = "<!-- written by cekura-livekit: report -->"
_HEAD = 4096  # the marker sits in the first bytes of our pages


class ForeignFileError(FileExistsError):
    """The destination holds a file this project did not write: overwriting it could destroy someone's data."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"report destination {where!r} already exists and was not written by the Cekura report (it lacks "
            f"the marker {MARKER!r}); refusing to overwrite it. Choose a new file name, or move that file away "
            "if it really is an old report."
        )


def is_uri(value: str) -> bool:
    scheme, sep, _ = value.partition("://")
    return (
        bool(sep)
        and scheme.isascii()
        and scheme.replace("+", "").replace("-", "").isalnum()
        and len(scheme) > 1
    )


def marked(html: str) -> str:
    """`html` carrying the marker: our templates include it; anything else gets it prepended."""
    return html if MARKER in html[:_HEAD] else f"{MARKER}\n{html}"


def write_report(html: str, destination: str | os.PathLike[str] | ObjectStoragePath) -> str:
    """Write ``html`` to ``destination`` and return where it went (absolute path or URI).

    ``destination`` may be a local path (str or ``os.PathLike``), a URI string such as ``"s3://bucket/r.html"``
    or ``"file:///tmp/r.html"``, or an ``airflow.sdk.ObjectStoragePath`` (which carries its ``conn_id``).
    A destination that is an existing directory, or ends with ``/``, receives ``cekura-report.html``.
    An existing file is overwritten only when it carries `MARKER` (`ForeignFileError` otherwise).
    """
    if not isinstance(html, str) or not html.strip():
        raise ValueError(
            f"write_report: html must be a non-empty string; got {type(html).__name__} "
            f"of length {len(html) if isinstance(html, str) else 'n/a'}. Pass the output of build_report_html()."
        )
    from airflow.sdk import ObjectStoragePath

    if isinstance(destination, ObjectStoragePath):
        return _write_object(marked(html), destination)
    if isinstance(destination, str) and is_uri(destination):
        return _write_object(marked(html), ObjectStoragePath(destination))
    if not isinstance(destination, str | os.PathLike) or not os.fspath(destination):
        raise ValueError(
            f"write_report: destination must be a local path, a URI like 's3://bucket/report.html', or an "
            f"ObjectStoragePath; got {destination!r}."
        )
    return _write_local(marked(html), destination)


def _ours(head: bytes) -> bool:
    return MARKER.encode() in head


def _write_local(html: str, destination: str | os.PathLike[str]) -> str:
    raw = os.fspath(destination)
    path = Path(raw).expanduser()
    if path.is_dir() or raw.endswith(("/", os.sep)):
        path = path / DEFAULT_FILENAME
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ForeignFileError(str(path))
    if path.exists():
        with path.open("rb") as existing:
            if not _ours(existing.read(_HEAD)):
                raise ForeignFileError(str(path.resolve()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(path.resolve())


def _write_object(html: str, path: ObjectStoragePath) -> str:
    if str(path).endswith("/") or (path.exists() and path.is_dir()):
        path = path / DEFAULT_FILENAME
    if path.exists():
        with path.open("rb") as existing:
            if not _ours(existing.read(_HEAD)):
                raise ForeignFileError(str(path))
    if path.protocol in {"file", "local", "memory"}:
        # Object stores have no directories; local-like filesystems need them.
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(html)
    return str(path)
