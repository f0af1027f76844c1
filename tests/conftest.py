import sys
from functools import cache
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "bootstrap"))  # its `foundation` package

from tests import peers
from tests.harness import BOOTSTRAP, STACKS, StackRun, run_stack


@cache
def stack_run(stack: str) -> StackRun:
    """Each stack file is run once per test session; tests only read the result."""
    return run_stack(stack)


@pytest.fixture(params=STACKS)
def any_stack(request: pytest.FixtureRequest) -> StackRun:
    return stack_run(request.param)


@pytest.fixture
def dev() -> StackRun:
    return stack_run("dev")


@pytest.fixture
def prod() -> StackRun:
    return stack_run("prod")


@pytest.fixture
def local() -> StackRun:
    return stack_run("local")


@cache
def bootstrap_run() -> StackRun:
    """The bootstrap project's one stack, under the same mocks."""
    return run_stack("ci", project_dir=BOOTSTRAP)


@pytest.fixture
def bootstrap() -> StackRun:
    return bootstrap_run()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    peers.in_integration_test = item.get_closest_marker("integration") is not None
