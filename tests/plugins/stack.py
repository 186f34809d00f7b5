"""pytest plugin: the end-to-end fixtures, on tools.throwaway.ThrowawayStack.

``stack``: the copy shared by test_dev.py and test_prod.py (one mode at a
time). ``own_stack``: a copy of the module's own, for modules whose faults
or settings must not reach the shared one. Each copy is removed afterwards
(its containers, volumes, image and folder; nothing else).
"""

import contextlib
from collections.abc import Iterator

import pytest

from tools.throwaway import ThrowawayStack


@contextlib.contextmanager
def throwaway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayStack]:
    """A new copy of the repository with its own project; removed afterwards."""
    copy = ThrowawayStack(prefix="e2e", parent=tmp_path_factory.mktemp("stack"))
    try:
        yield copy
    finally:
        copy.close()


@pytest.hookimpl(tryfirst=True)  # before xdist's own answer (the CPU count)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for pytest.ini's ``-n auto``: none when the end-to-end tests
    run (they share stacks and each stack loads both cores: one process runs
    them in order); two for the rest, most of which wait on a Python process
    of their own."""
    selection = config.getoption("markexpr") or ""
    return 0 if "e2e" in selection and "not e2e" not in selection else 2


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with throwaway_stack(tmp_path_factory) as copy:
        yield copy


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    with throwaway_stack(tmp_path_factory) as copy:
        yield copy
