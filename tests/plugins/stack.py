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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end tests run one after another on one xdist worker
    (pytest.ini: --dist loadgroup): they share stacks, and each loads both
    cores. The other tests spread over the workers."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with throwaway_stack(tmp_path_factory) as copy:
        yield copy


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    with throwaway_stack(tmp_path_factory) as copy:
        yield copy
