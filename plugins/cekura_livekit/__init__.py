"""Cekura × LiveKit provider for Apache Airflow: submit voice-agent test batches, wait, load, trend."""

__version__ = "0.1.0"
USER_AGENT = f"airflow-provider-cekura-livekit/{__version__}"
