"""Deterministic revision ids and file names for imported revisions.

Pure.  An imported revision's id depends only on what it carries — the source
file's path, the statement numbers and the file's checksum — never on time,
randomness or its place in the chain, so importing the same directory twice
gives byte-identical files and adding a file later leaves earlier ids alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

__all__ = ["describe_numbers", "revision_filename", "revision_id", "slug"]

ID_LENGTH = 12


def revision_id(path: str, numbers: Sequence[int | str], checksum: str) -> str:
    """12 hex digits of sha256 over (path, statement numbers, checksum).

    ``numbers`` may tag a statement (``"3s"``: the foreign keys split out of
    statement 3) so that two revisions carrying parts of one statement differ.
    """
    key = "\0".join((path, ",".join(str(n) for n in numbers), checksum))
    # a file name that is not UTF-8 arrives with lone surrogates (os.fsdecode): hash its real bytes
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:ID_LENGTH]


def slug(path: str, numbers: Sequence[int], total: int, max_len: int = 48) -> str:
    """``0001_core_tables_idempotent`` (whole file) or ``..._s1to3_5`` (part of it)."""
    stem = path.rsplit("/", 1)[-1]
    for suffix in (".up.sql", ".sql"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if stem.lower() in ("up", "migration") and "/" in path:
        # Diesel-style directories: the directory names the migration
        stem = path.rsplit("/", 2)[-2]
    base = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:max_len].strip("_") or "sql"
    if list(numbers) == list(range(1, total + 1)):
        return base
    part = describe_numbers(numbers).replace("–", "to").replace(", ", "_")
    if len(part) > 20:
        part = f"{numbers[0]}to{numbers[-1]}"
    return f"{base}_s{part}"


def revision_filename(rev: str, slug_text: str) -> str:
    return f"{rev}_{slug_text}.py"


def describe_numbers(numbers: Sequence[int]) -> str:
    """``1–3, 5`` for (1, 2, 3, 5): runs of consecutive numbers as ranges."""
    parts: list[str] = []
    i = 0
    nums = list(numbers)
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}–{nums[j]}")
        i = j + 1
    return ", ".join(parts)
