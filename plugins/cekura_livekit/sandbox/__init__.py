"""Local stand-ins for the Cekura API and a LiveKit server, for tests, demos and offline development.

Optional: nothing else in the package imports it. Start it in-process with `Sandbox` or from the shell
with `cekura-sandbox`.
"""

from cekura_livekit.sandbox.server import Sandbox

__all__ = ["Sandbox"]
