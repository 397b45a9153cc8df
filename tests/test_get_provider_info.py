"""The installed package registers as an Airflow provider with its connection types."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from cekura_livekit.get_provider_info import get_provider_info


def test_entry_point_is_declared() -> None:
    eps = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("cekura_livekit")
    ]
    assert len(eps) == 1
    assert eps[0].load()() == get_provider_info()


def test_provider_info_validates_against_airflow_schema() -> None:
    import json
    from pathlib import Path

    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_providers_manager_lists_package_and_connection_types() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    pm = ProvidersManager()
    assert "airflow-provider-cekura-livekit" in pm.providers
    assert pm.field_behaviours["cekura"]["relabeling"]["password"] == "Cekura API key"
    hooks = ProvidersManagerTaskRuntime().hooks
    assert hooks["cekura"].hook_class_name == "cekura_livekit.hooks.cekura.CekuraHook"
    assert hooks["livekit"].hook_class_name == "cekura_livekit.hooks.livekit.LiveKitHook"


@pytest.mark.parametrize("section", ["operators", "sensors", "triggers", "extra-links"])
def test_every_listed_class_imports(section: str) -> None:
    from importlib import import_module

    info = get_provider_info()
    for entry in info.get(section, []):
        paths = entry if isinstance(entry, str) else None
        for module in entry.get("python-modules", []) if paths is None else []:
            import_module(module)
        if paths:
            module, _, cls = paths.rpartition(".")
            assert hasattr(import_module(module), cls)
