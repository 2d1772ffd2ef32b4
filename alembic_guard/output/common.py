"""Helpers every output format shares.  Pure."""

from __future__ import annotations

import json
from typing import Any


def shorten(text: str, width: int) -> str:
    """``text`` itself when it fits in ``width`` characters, else its start and ``…`` in exactly ``width``."""
    return text if len(text) <= width else text[: width - 1] + "…"


def one_line(text: str, width: int) -> str:
    """``text`` with its white space folded to single spaces, shortened to ``width`` (SQL excerpts)."""
    return shorten(" ".join(text.split()), width)


def json_document(document: Any) -> str:
    """The JSON formats' bytes: two-space indent, UTF-8 kept as is, keys in order, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
