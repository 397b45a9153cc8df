"""Where a run may ask the report to go: inside the operator-configured report roots, nowhere else (24.2).

Anyone who can trigger `cekura_report` sets its `destination` param; before this check it reached the writer
unchanged, so a run could write over any file the worker can write (`../..`, `file://`, absolute paths,
symlinks out). The roots come from the deployment (`config.report_roots`: `CEKURA_REPORT_ROOTS`, default the
configured report folder), never from a run. A local destination is resolved (``..`` and every symlink on
the way followed) and then must lie inside a resolved root; a URL must use a root's scheme and location and
stay under its path without ``..``. Overwriting is checked again by the writer (`output.ForeignFileError`).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from cekura_livekit.report.output import DEFAULT_FILENAME, is_uri

PARAM = "destination"


class ReportDestinationError(ValueError):
    """A run asked for a report destination outside the configured roots: permanent, never retried."""


def _refuse(value: str, why: str, roots: list[str]) -> ReportDestinationError:
    return ReportDestinationError(
        f"param {PARAM!r} = {value!r} is refused: {why}. Allowed: a file name or path inside the report roots "
        f"{roots} (set by the deployment in CEKURA_REPORT_ROOTS, not by a run), e.g. 'team/cekura.html'; "
        "leave it empty for the configured default."
    )


def confine(requested: str, roots: list[str]) -> str:
    """The place inside `roots` that `requested` names (relative paths are taken under the first local
    root); `ReportDestinationError` naming the param, the value and the fix for anything else."""
    if not isinstance(requested, str) or not requested.strip():
        raise _refuse(repr(requested), "it must be a non-empty string", roots)
    if any(ord(c) < 32 or c == "\x7f" for c in requested):
        raise _refuse(requested, "it contains control characters", roots)
    if is_uri(requested) or "://" in requested:
        return _confine_url(requested, roots)
    return _confine_local(requested, roots)


def _confine_local(requested: str, roots: list[str]) -> str:
    local = [Path(r).expanduser().resolve() for r in roots if not is_uri(r)]
    if not local:
        raise _refuse(requested, "no local report root is configured, only object-storage ones", roots)
    asked = Path(requested)
    target = asked if asked.is_absolute() else local[0] / asked
    if target.is_dir() or requested.endswith("/"):
        target = target / DEFAULT_FILENAME
    resolved = target.resolve()  # follows `..` and every existing symlink, the final component included
    if not any(resolved == root or resolved.is_relative_to(root) for root in local):
        raise _refuse(requested, f"it resolves to {str(resolved)!r}, outside every report root", roots)
    if resolved in local:
        raise _refuse(requested, "it names a report root itself, not a file in it", roots)
    return str(resolved)


def _split(url: str) -> tuple[str, str, str]:
    scheme, _, rest = url.partition("://")
    location, _, path = rest.partition("/")
    return scheme.lower(), location, "/" + path


def _confine_url(requested: str, roots: list[str]) -> str:
    scheme, location, path = _split(requested)
    if ".." in path.split("/"):
        raise _refuse(requested, "its path contains '..'", roots)
    allowed = [_split(r) for r in roots if is_uri(r)]
    if scheme not in {s for s, _, _ in allowed}:
        schemes = sorted({s for s, _, _ in allowed}) or "none"
        raise _refuse(requested, f"scheme {scheme + '://'!r} is not allowed (allowed: {schemes})", roots)
    normal = posixpath.normpath(path)
    for root_scheme, root_location, root_path in allowed:
        base = posixpath.normpath(root_path)
        inside = normal.startswith(base.rstrip("/") + "/") and normal != base
        if root_scheme == scheme and root_location == location and inside:
            return requested
    raise _refuse(requested, "it is not under any report root", roots)
