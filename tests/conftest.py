"""Shared fixtures: a clean pipeline per test, and no swallowed internal errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bellwatch import _guard, context, pipeline


@pytest.fixture(autouse=True)
def _clean_bellwatch(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reset bellwatch between tests and fail a test that swallowed an internal error.

    Tests that provoke internal errors on purpose mark themselves
    ``@pytest.mark.internal_errors``.
    """
    swallowed: list[BaseException] = []
    _guard._hooks.append(swallowed.append)
    _guard.counters.reset()
    context.clear()
    try:
        yield
    finally:
        _guard._hooks.remove(swallowed.append)
        pipeline.reset()
        context.clear()
    if swallowed and request.node.get_closest_marker("internal_errors") is None:
        pytest.fail(f"bellwatch swallowed internal errors: {swallowed!r}")
