"""Local stand-ins for the Cekura API and a LiveKit server, for tests, demos and offline development.

A distribution of its own (`cekura-sandbox`): the Airflow provider never imports it. Start it in-process with
`Sandbox`, from the shell with `cekura-sandbox`, or in tests with the fixtures of `cekura_sandbox.pytest_plugin`.
"""

from cekura_sandbox.server import Sandbox

__all__ = ["Sandbox"]
