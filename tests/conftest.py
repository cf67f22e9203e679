"""How the suite is shared out between pytest-xdist workers (`make test`: -n 2 --dist loadgroup).

Every test without its own `xdist_group` mark is put in its module's group, so one worker runs
a whole module: a module-scoped fixture (a class graded once, a Docker image, a PostgreSQL
server's database) is built once, not once per worker. A test that needs a machine-wide resource
names a group that modules share, e.g. `@pytest.mark.xdist_group("slurm")` (one Slurm per
machine). Under xdist the modules marked `slow` are handed out first, so no long module starts
last while the other worker idles. Without xdist nothing here changes the order or the tests.

tests/test_xdist_groups.py checks that the grouping really happens.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):  # noqa: ANN201
    worker = hasattr(config, "workerinput")  # an xdist worker: its collection is what gets handed out
    if worker:
        slow_groups = set()
        for item in items:
            if item.get_closest_marker("xdist_group") is None:
                item.add_marker(pytest.mark.xdist_group(item.path.stem))
            if item.get_closest_marker("slow") is not None:
                slow_groups.update(_groups(item))
        # The controller hands the groups out in this order (with --no-loadscope-reorder; xdist's
        # default puts the groups with the most tests first).
        items.sort(key=lambda item: not slow_groups.intersection(_groups(item)))  # stable otherwise
    result = yield
    if worker and config.getvalue("loadgroup"):
        _name_groups_in_node_ids(items)
    return result


def _groups(item: pytest.Item) -> set[str]:
    """The item's group names, read as xdist reads them."""
    return {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}


def _name_groups_in_node_ids(items: list[pytest.Item]) -> None:
    """--dist loadgroup finds a test's group from a "@group" suffix that xdist's worker appends to
    the node id. pytest 9.2 keeps node ids structured (`item._id`) and xdist 3.8 still writes the
    old field, so the suffix is lost and every test is scheduled alone, silently
    (pytest-dev/pytest-xdist#1386). Append it the way xdist does where it is missing; a fixed
    xdist appends it itself and this does nothing."""
    from _pytest.nodeid import NodeId

    for item in items:
        names = _groups(item)
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)
