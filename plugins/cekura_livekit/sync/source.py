"""Who started a Cekura result: `airflow`, `cron`, `ci`, `dashboard`, `api` or `unknown`, as far as Cekura tells.

The vocabulary and steps 1–2 are `results.source` (shared with the per-batch load); this module adds the
name conventions of steps 3–5, which only a sync needs. Cekura's Result has exactly two fields that say
anything about its origin (spec: Result, ResultDetailV2): `is_cronjob` (typed as a string in the spec, a
boolean in examples) and the free-text `name`. Nothing marks a dashboard click or an API script. So the rule, first match wins:

1. `is_cronjob` is true → `cron` (Cekura's scheduler started it; the only origin Cekura records itself).
2. the name is one of this provider's deterministic batch names (`batch.submit.batch_name`:
   ``[<name> · ]airflow <dag>.<task>[<map>] @ <run_id> · <deployment>[ (attempt N)]``) → `airflow`.
3. the name matches `ci_pattern` → `ci`. Cekura's GitHub Action sends no marker of its own; its batch action
   takes a `name` per group, so the convention is a name starting with ``ci:`` / ``ci-`` / ``ci `` or naming
   GitHub Actions (configurable).
4. the name matches `api_pattern` → `api`; `dashboard_pattern` → `dashboard` (no default: a team that names
   its scripts' results, e.g. ``script: …``, configures one).
5. otherwise → `unknown`: an unnamed or free-named result could be a dashboard click or a script, and a
   guess would make the analyst's "which runs were CI" query silently wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cekura_livekit.results.source import API, CI, DASHBOARD, UNKNOWN, source_from_payload

#: Cekura's GitHub Action sends no marker: a name starting "ci:"/"ci-"/"ci " or naming GitHub Actions.
DEFAULT_CI_PATTERN = r"(?i)^(?:ci[:\- ]|.*\bgithub[ -]?actions?\b)"


def _compiled(pattern: str | None, what: str) -> re.Pattern[str] | None:
    if pattern in (None, ""):
        return None
    try:
        return re.compile(str(pattern))
    except re.error as exc:
        raise ValueError(
            f"{what}={pattern!r} is not a valid regular expression ({exc}); e.g. {DEFAULT_CI_PATTERN!r}"
        ) from None


@dataclass(frozen=True)
class SourceRules:
    """The name conventions of steps 3–4 (regular expressions, searched in the result name)."""

    ci_pattern: str | None = DEFAULT_CI_PATTERN
    api_pattern: str | None = None
    dashboard_pattern: str | None = None

    def __post_init__(self) -> None:
        for what in ("ci_pattern", "api_pattern", "dashboard_pattern"):
            _compiled(getattr(self, what), what)

    def classify(self, result: Mapping[str, Any]) -> str:
        """The result's source by the rule of this module's docstring (steps 1–2: `results.source`)."""
        told = source_from_payload(result)
        if told is not None:
            return told
        name = str(result.get("name") or "")
        for source, pattern in (
            (CI, self.ci_pattern),
            (API, self.api_pattern),
            (DASHBOARD, self.dashboard_pattern),
        ):
            compiled = _compiled(pattern, f"{source}_pattern")
            if compiled is not None and name and compiled.search(name):
                return source
        return UNKNOWN
