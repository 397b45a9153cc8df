"""`compat` gives every moved Airflow name one home: on each supported Airflow it must hand out the very class
Airflow raises and catches (the task SDK's on 3.2+, core's on 3.1), so `except AirflowSkipException` in the
provider catches what Airflow raises. Runs in the main suite (3.3) and in both compatibility jobs (3.1, 3.2)."""

from __future__ import annotations

import importlib

import airflow
import airflow.sdk.exceptions as sdk_exceptions
import pytest

from cekura_livekit import compat

EXCEPTIONS = [n for n in compat.__all__ if n != "conf"]
#: Airflow 3.1's task SDK exports only AirflowException; the rest live in core there.
AIRFLOW_3_1 = tuple(int(p) for p in airflow.__version__.split(".")[:2]) < (3, 2)


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_each_exception_is_the_class_this_airflow_raises(name: str) -> None:
    home = importlib.import_module("airflow.exceptions") if AIRFLOW_3_1 else sdk_exceptions
    assert getattr(compat, name) is getattr(home, name)
    if hasattr(sdk_exceptions, name):  # whatever the SDK exports is what the SDK raises: the same class
        assert getattr(compat, name) is getattr(sdk_exceptions, name)


def test_the_exceptions_keep_airflows_hierarchy() -> None:
    for name in ("AirflowFailException", "AirflowNotFoundException", "AirflowSkipException"):
        assert issubclass(getattr(compat, name), compat.AirflowException), name


def test_conf_is_this_airflows_configuration_and_reads_airflow_settings() -> None:
    home = "airflow.configuration" if AIRFLOW_3_1 else "airflow.sdk.configuration"
    assert compat.conf is importlib.import_module(home).conf
    assert compat.conf.get("core", "dags_folder")


def test_all_lists_exactly_the_names_it_exports() -> None:
    assert sorted(compat.__all__) == sorted(set(compat.__all__))
    for name in compat.__all__:
        assert hasattr(compat, name), name
