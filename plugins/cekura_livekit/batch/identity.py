"""Which task instance a batch belongs to: the key of batch names, room names and the task state store.

A task instance is unique only inside one Airflow deployment: staging and production run the same DAGs with
the same run ids, so anything they share — a LiveKit project above all — needs the deployment's identity too
(`deployment_id`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Environment variable naming this Airflow deployment (e.g. `staging`, `prod-eu`); set it on every component.
DEPLOYMENT_ENV = "CEKURA_DEPLOYMENT_ID"
#: Longest deployment id kept in a room name (LiveKit allows 256 characters; ours stay under 90).
DEPLOYMENT_ID_MAX = 16
_DEPLOYMENT_OK = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?$")


def deployment_id(environ: Mapping[str, str] | None = None) -> str:
    """This deployment's short identity, the same on every component and every retry of it.

    `CEKURA_DEPLOYMENT_ID` when set (validated: lower-case letters, digits, inner dashes, at most 16).
    Otherwise a 6-hex digest of the metadata database URL: every scheduler, worker and triggerer of one
    deployment shares it and two deployments never do, and only the digest leaves the process (the URL holds a
    password). Not the hostname: it differs per worker, so a retry on another worker would name other rooms
    and lose the ones it created. Last resort, for workers configured without a database URL (Airflow 3
    task isolation): the execution API URL, which all workers of a deployment share.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(DEPLOYMENT_ENV, "").strip()
    if explicit:
        if not _DEPLOYMENT_OK.match(explicit):
            raise ValueError(
                f"{DEPLOYMENT_ENV}={explicit!r} is not a valid deployment id: use 1-{DEPLOYMENT_ID_MAX} "
                "lower-case letters, digits and inner dashes, e.g. 'staging' or 'prod-eu'."
            )
        return explicit
    source = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or _airflow_setting(
        ("database", "sql_alchemy_conn"), ("core", "execution_api_server_url")
    )
    return hashlib.sha256(source.encode()).hexdigest()[:6]


def _airflow_setting(*options: tuple[str, str]) -> str:
    """The first configured value among `options` (section, key); '' when none is (or no Airflow config)."""
    try:
        from airflow.configuration import conf
    except Exception:  # no Airflow config importable here (plain scripts)
        return ""
    for section, key in options:
        try:
            value = conf.get(section, key, fallback="")
        except Exception:
            value = ""
        if value:
            return str(value)
    return ""


@dataclass(frozen=True)
class TaskIdentity:
    """dag, task, run and map index: stable across retries of one task instance, distinct otherwise."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> TaskIdentity:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(ti.run_id),
            map_index=int(map_index) if map_index is not None else -1,
        )

    def label(self) -> str:
        """Human-readable identity, embedded in the result name."""
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{suffix} @ {self.run_id}"

    def digest(self, attempt: int = 1) -> str:
        raw = "\x1f".join([self.dag_id, self.task_id, self.run_id, str(self.map_index), str(attempt)])
        return hashlib.sha256(raw.encode()).hexdigest()[:12]
