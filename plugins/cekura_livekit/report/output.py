"""Where the report goes: a local file by default, any Airflow object store (s3://, gs://, file://...) if asked.

Local writes go through a temporary file and an atomic rename, so a reader (a web server, a sync job) never
sees a half-written report.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

DEFAULT_FILENAME = "cekura-report.html"


def _is_uri(value: str) -> bool:
    scheme, sep, _ = value.partition("://")
    return (
        bool(sep)
        and scheme.isascii()
        and scheme.replace("+", "").replace("-", "").isalnum()
        and len(scheme) > 1
    )


def write_report(html: str, destination: str | os.PathLike[str] | ObjectStoragePath) -> str:
    """Write ``html`` to ``destination`` and return where it went (absolute path or URI).

    ``destination`` may be a local path (str or ``os.PathLike``), a URI string such as ``"s3://bucket/r.html"``
    or ``"file:///tmp/r.html"``, or an ``airflow.sdk.ObjectStoragePath`` (which carries its ``conn_id``).
    A destination that is an existing directory, or ends with ``/``, receives ``cekura-report.html``.
    """
    if not isinstance(html, str) or not html.strip():
        raise ValueError(
            f"write_report: html must be a non-empty string; got {type(html).__name__} "
            f"of length {len(html) if isinstance(html, str) else 'n/a'}. Pass the output of build_report_html()."
        )
    from airflow.sdk import ObjectStoragePath

    if isinstance(destination, ObjectStoragePath):
        return _write_object(html, destination)
    if isinstance(destination, str) and _is_uri(destination):
        return _write_object(html, ObjectStoragePath(destination))
    if not isinstance(destination, str | os.PathLike) or not os.fspath(destination):
        raise ValueError(
            f"write_report: destination must be a local path, a URI like 's3://bucket/report.html', or an "
            f"ObjectStoragePath; got {destination!r}."
        )
    return _write_local(html, destination)


def _write_local(html: str, destination: str | os.PathLike[str]) -> str:
    raw = os.fspath(destination)
    path = Path(raw).expanduser()
    if path.is_dir() or raw.endswith(("/", os.sep)):
        path = path / DEFAULT_FILENAME
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
    if path.protocol in {"file", "local", "memory"}:
        # Object stores have no directories; local-like filesystems need them.
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(html)
    return str(path)
