import sys
from functools import cache
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import STACKS, StackRun, run_stack


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
