"""`cekura-sandbox`: start both stand-ins and print how to point Airflow at them.

The printed credentials are sandbox-only development values; printing them is the point.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime
from types import FrameType

from cekura_sandbox.server import (
    DEFAULT_API_KEY,
    DEFAULT_LIVEKIT_KEY,
    DEFAULT_LIVEKIT_SECRET,
    Sandbox,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cekura-sandbox",
        description="Local Cekura API + LiveKit server stand-ins.",
        epilog=(
            "Controls: /_sandbox/(requests|faults|clock|livekit/rooms) on the Cekura port need the "
            "X-CEKURA-API-KEY header (the --api-key value), like every API path; only /_sandbox/health is open."
        ),
    )
    p.add_argument(
        "--port", type=int, default=8700, help="Cekura stand-in port (0 = any free port; default 8700)"
    )
    p.add_argument(
        "--livekit-port", type=int, default=7880, help="LiveKit stand-in port (0 = any; default 7880)"
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulated outcomes (default 7)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    p.add_argument(
        "--catalogue", default=None, help="YAML catalogue of agents and scenarios (default: packaged)"
    )
    p.add_argument(
        "--start-time",
        default=None,
        help="simulated start, ISO 8601 with timezone, not in the future (default: far enough in the past "
        "that the simulated clock meets the wall clock after 4 real hours)",
    )
    p.add_argument(
        "--parallel-calls",
        type=int,
        default=None,
        help="the organisation's parallel-call limit: more runs wait in_queue "
        "(default: the catalogue's, else 10)",
    )
    p.add_argument(
        "--metric-format",
        choices=["canonical", "legacy", "both"],
        default=None,
        help="how every agent writes binary metric results: canonical {eval_type, passed}, legacy "
        "{type, score 5|0} or both (default: each agent's catalogue setting)",
    )
    p.add_argument(
        "--ignore-v1-name",
        action="store_true",
        help="drop top-level `name` on v1/chat submits (undeclared there; the real API may drop it)",
    )
    p.add_argument("--api-key", default=DEFAULT_API_KEY, help="Cekura API key the stand-in accepts")
    p.add_argument("--livekit-api-key", default=DEFAULT_LIVEKIT_KEY)
    p.add_argument("--livekit-api-secret", default=DEFAULT_LIVEKIT_SECRET)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = None
    if args.start_time:
        start = datetime.fromisoformat(args.start_time.replace("Z", "+00:00"))
    try:
        sandbox = Sandbox(
            seed=args.seed,
            speed=args.speed,
            catalogue=args.catalogue,
            api_key=args.api_key,
            livekit_api_key=args.livekit_api_key,
            livekit_api_secret=args.livekit_api_secret,
            cekura_port=args.port,
            livekit_port=args.livekit_port,
            start_time=start,
            host=args.host,
            parallel_calls=args.parallel_calls,
            ignore_v1_name=args.ignore_v1_name,
            metric_format=args.metric_format,
        )
        sandbox.start()
    except (ValueError, RuntimeError) as exc:
        print(f"cekura-sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    env = sandbox.connection_env()
    print(
        "\n".join(
            [
                "Cekura sandbox is running (sandbox-only dev credentials below).",
                f"  Cekura API:      {sandbox.cekura_url}   header X-CEKURA-API-KEY: {sandbox.api_key}",
                f"  LiveKit server:  {sandbox.livekit_url}  ({sandbox.livekit_ws_url})",
                f"                   api key: {sandbox.livekit_api_key}   api secret: {sandbox.livekit_api_secret}",
                f"  seed={sandbox.seed} speed={sandbox.clock.speed:g}x simulated now={sandbox.now().isoformat()}",
                f"  controls:        {sandbox.cekura_url}/_sandbox/(requests|faults|clock|livekit/rooms)"
                "  (need the X-CEKURA-API-KEY header too)",
                f"  parallel calls:  {sandbox.store.parallel_calls} (more runs wait in_queue)"
                + ("   v1/chat `name` ignored" if sandbox.store.ignore_v1_name else ""),
                "",
                "export AIRFLOW_CONN_CEKURA_DEFAULT='" + env["AIRFLOW_CONN_CEKURA_DEFAULT"] + "'",
                "export AIRFLOW_CONN_LIVEKIT_DEFAULT='" + env["AIRFLOW_CONN_LIVEKIT_DEFAULT"] + "'",
                "",
                "Ctrl-C (SIGINT) or SIGTERM stops it.",
            ]
        ),
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    sandbox.stop()
    print("cekura-sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
