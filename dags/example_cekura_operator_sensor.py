"""Example: submit Cekura scenarios against a LiveKit agent, then wait for the verdict with a sensor.

Submitting and waiting are split so the wait can run in the triggerer (`deferrable=True`) and so other
tasks can run in between. Connections: `cekura_default` (password = API key) and, for own rooms,
`livekit_default` (host = server URL, login = API key, password = API secret).
Parses fast: only the provider's light modules are imported here (no pandas, no livekit).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from cekura_livekit.operators.run_scenarios import CekuraRunLiveKitScenariosOperator
from cekura_livekit.sensors.runs import CekuraRunsSensor

with DAG(
    dag_id="example_cekura_operator_sensor",
    description="Cekura voice-agent regression suite: submit, then wait in the triggerer",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cekura", "livekit", "example"],
    params={
        "agent": Param(101, type="integer", description="Cekura agent id"),
        "scenarios": Param([2001, 2002, 2005], type="array", description="Cekura scenario ids"),
        "frequency": Param(1, type="integer", minimum=1, maximum=100),
    },
    render_template_as_native_obj=True,
    default_args={"owner": "qa-voice", "retries": 2, "retry_delay": timedelta(minutes=1)},
) as dag:
    submit = CekuraRunLiveKitScenariosOperator(
        task_id="submit_suite",
        agent="{{ params.agent }}",
        scenarios="{{ params.scenarios }}",
        frequency="{{ params.frequency }}",
        name="Nightly support regression",
        wait_for_completion=False,  # the sensor below waits; retries re-attach instead of resubmitting
    )
    wait = CekuraRunsSensor(
        task_id="wait_for_verdict",
        result_id=submit.output["result_id"],  # type: ignore[index]
        min_success_rate=0.9,
        deferrable=True,
        poke_interval=30,
        timeout=2 * 60 * 60,
    )
    submit >> wait
