"""`compat` gives every moved Airflow name one home: on the installed Airflow (3.3 in dev) it must hand out the
task SDK's own classes, so `except AirflowSkipException` in the provider catches what Airflow raises."""

from __future__ import annotations

import airflow.sdk.exceptions as sdk_exceptions
import pytest

from cekura_livekit import compat


@pytest.mark.parametrize("name", [n for n in compat.__all__ if n != "conf"])
def test_each_exception_is_the_task_sdks_own_class(name: str) -> None:
    assert getattr(compat, name) is getattr(sdk_exceptions, name)


def test_the_exceptions_keep_airflows_hierarchy() -> None:
    for name in ("AirflowFailException", "AirflowNotFoundException", "AirflowSkipException"):
        assert issubclass(getattr(compat, name), compat.AirflowException), name


def test_conf_is_the_sdk_configuration_and_reads_airflow_settings() -> None:
    from airflow.sdk.configuration import conf

    assert compat.conf is conf
    assert compat.conf.get("core", "dags_folder")


def test_all_lists_exactly_the_names_it_exports() -> None:
    assert sorted(compat.__all__) == sorted(set(compat.__all__))
    for name in compat.__all__:
        assert hasattr(compat, name), name
