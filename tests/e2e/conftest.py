"""The LocalExecutor stack and its completed regression run, shared by the e2e and browser tests (package scope:
started once for tests/e2e/, stopped when the package's tests end, whatever their outcome)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import AirflowStack, RegressionRun
from tests.support.warehouse import require_postgres


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    require_postgres()
    # 15x: the smoke batch takes a few real seconds, so the triggerer is waiting when its webhook comes.
    stack = AirflowStack(home=Path(tmp_path_factory.mktemp("e2e-local")), label="local", sandbox_speed=15.0)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def local_run(local_stack: AirflowStack) -> RegressionRun:
    return local_stack.run_regression()
