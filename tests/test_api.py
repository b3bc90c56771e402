"""The curated public API."""

from __future__ import annotations

import bellwatch
from fresh_python import run_python


class TestPublicApi:
    def test_all_is_sorted(self) -> None:
        """__all__ is kept sorted so additions are easy to review."""
        assert bellwatch.__all__ == sorted(bellwatch.__all__)

    def test_every_name_resolves(self) -> None:
        """Each exported name, lazy or not, can be fetched."""
        for name in bellwatch.__all__:
            assert getattr(bellwatch, name) is not None

    def test_unknown_name_is_an_attribute_error(self) -> None:
        """A typo raises AttributeError, as for any module."""
        try:
            bellwatch.instrumnet  # type: ignore[attr-defined]  # noqa: B018 - the access is the test
        except AttributeError as exc:
            assert "instrumnet" in str(exc)
        else:
            raise AssertionError("no AttributeError")

    def test_import_is_light(self) -> None:
        """`import bellwatch` loads neither structlog nor the ASGI machinery."""
        code = (
            "import sys, bellwatch; "
            "print(sorted(m for m in ('structlog', 'ddsketch', 'starlette') if m in sys.modules))"
        )
        assert run_python(code).strip() == "[]"
