"""Regenerate the README's generated tables (schema, settings, cost figures) from the code.

Run: .venv/bin/python scripts/update_readme.py   (tests fail when the README is stale)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bellwatch import _settings, schema  # noqa: E402 - after the path tweak

sys.path.insert(0, str(ROOT / "scripts"))
import cost_example  # noqa: E402 - the scripts dir is not a package

BLOCKS = {
    "schema": schema.markdown_table,
    "settings": _settings.markdown_table,
    "cost": cost_example.markdown,
}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if new != old:
        path.write_text(new)
        print("README.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
