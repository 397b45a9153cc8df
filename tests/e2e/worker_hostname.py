"""`[core] hostname_callable` for the Celery e2e test: two workers on one machine report distinct hostnames.

Airflow records a task instance's `hostname` from this callable (default `socket.getfqdn`, the same for both
workers here); each worker process gets its own `CEKURA_E2E_WORKER`.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("CEKURA_E2E_WORKER") or socket.getfqdn()
