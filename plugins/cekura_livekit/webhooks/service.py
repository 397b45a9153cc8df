"""`cekura-webhooks`: the receiver on its own (uvicorn), for teams that do not expose the api-server.

It needs the same `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN` (or `CEKURA_WEBHOOK_DSN`) as the triggerer, and
the webhook connection (`AIRFLOW_CONN_CEKURA_WEBHOOK_DEFAULT`, or any secrets backend Airflow reads).
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from cekura_livekit.webhooks.app import create_app

    parser = argparse.ArgumentParser(prog="cekura-webhooks", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("CEKURA_WEBHOOKS_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CEKURA_WEBHOOKS_PORT", "8790")))
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, access_log=False, log_level="info")


if __name__ == "__main__":  # pragma: no cover
    main()
