"""Typed reading of one record of a cache file or of an importer's input.

Every adapter (and every importer, on the user's own files) reads fields through these, so a wrong
type, a missing key or a null where a value is needed is one :class:`HarnessError` line that names
the file, the line or item, and the field, instead of a TypeError/IndexError traceback.

``where`` is the message prefix that locates the record: :func:`at_line` for JSONL files (the line
number, and the item once its id is known), :func:`at_item` for JSON files keyed by item.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from harness.core.errors import HarnessError
from harness.core.io import read_text

_NO_DEFAULT = object()


def at_line(path: Path | str, lineno: int, item: object = None) -> str:
    return f"{path}: line {lineno}" + ("" if item is None else f", item {item}")


def at_item(path: Path | str, item: object) -> str:
    return f"{path}: item {item}"


def numbered_jsonl(path: Path) -> list[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSONL file (plain or .gz): error messages
    can then name the line, which :func:`harness.core.io.read_jsonl` forgets."""
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}: invalid JSON on line {lineno} ({exc.msg})") from None
    return rows


def _kind(value: Any) -> str:
    """How a JSON value reads in a message: its type and a short repr."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    name = names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
    if value is None:
        return name
    shown = repr(value)
    return f"{name} {shown[:40] + '...' if len(shown) > 40 else shown}"


def record(value: Any, where: str) -> dict:
    """The record itself must be a JSON object."""
    if not isinstance(value, dict):
        raise HarnessError(f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def get(row: Any, name: str, where: str, default: Any = _NO_DEFAULT) -> Any:
    if not isinstance(row, dict):
        raise HarnessError(f"{where}: expected a JSON object with field '{name}', got {_kind(row)}")
    if name not in row:
        if default is not _NO_DEFAULT:
            return default
        raise HarnessError(f"{where}: missing field '{name}'")
    return row[name]


def bad(where: str, name: str, expected: str, value: Any) -> HarnessError:
    return HarnessError(f"{where}: field '{name}': expected {expected}, got {_kind(value)}")


def text(row: Any, name: str, where: str, default: Any = _NO_DEFAULT) -> str:
    value = get(row, name, where, default)
    if not isinstance(value, str):
        raise bad(where, name, "a string", value)
    return value


def ident(row: Any, name: str, where: str) -> str:
    """An item id: a string or an integer (MT-Bench's question ids are numbers), as a string."""
    value = get(row, name, where)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise bad(where, name, "an item id (a string or an integer)", value)
    return str(value)


def integer(row: Any, name: str, where: str, choices: Iterable[int] | None = None) -> int:
    """An integer (or a string of one); ``choices`` the values allowed."""
    value = get(row, name, where)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError
        number = int(value)
    except ValueError:
        raise bad(where, name, "an integer", value) from None
    allowed = list(choices) if choices is not None else None
    if allowed is not None and number not in allowed:
        raise bad(where, name, " or ".join(map(str, allowed)), value)
    return number


def number(row: Any, name: str, where: str, *, nullable: bool = False) -> float:
    """A finite number (or a string of one); with ``nullable`` a null (or NaN) reads as NaN."""
    value = get(row, name, where)
    if value is None and nullable:
        return math.nan
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        out = float(value)
    except ValueError:
        raise bad(where, name, "a number" + (" or null" if nullable else ""), value) from None
    if math.isnan(out) and nullable:
        return out
    if not math.isfinite(out):
        raise bad(where, name, "a finite number", value)
    return out


def sequence(row: Any, name: str, where: str, *, min_len: int = 1) -> list:
    """A JSON list of at least ``min_len`` elements."""
    value = get(row, name, where)
    if not isinstance(value, list):
        raise bad(where, name, "a list", value)
    if len(value) < min_len:
        raise bad(where, name, f"a list of at least {min_len} element{'s' if min_len > 1 else ''}", value)
    return value


def first_turn(row: Any, name: str, where: str, key: str | None = None) -> str:
    """The text of the first element of a list of turns (``key``: the field of a turn object)."""
    turn = sequence(row, name, where)[0]
    if key is None:
        if not isinstance(turn, str):
            raise bad(where, f"{name}[0]", "a string", turn)
        return turn
    return text(turn, key, f"{where}: field '{name}[0]'")


class Seen:
    """Keys met so far in a file, with where each was met: a second record for the same key is an
    error naming both places, never a silent "last one wins"."""

    def __init__(self, what: str):
        self.what, self.first = what, {}

    def add(self, key: Any, where: str, shown: str | None = None) -> None:
        if key in self.first:
            raise HarnessError(f"{where}: duplicate {self.what} for {shown or key} "
                               f"(first at {self.first[key]})")
        self.first[key] = where.rsplit(": ", 1)[-1]


def known(item_id: str, ids: set[str] | dict, where: str, table: str) -> str:
    """An item id must be one of the benchmark's (never silently dropped as "unanswered")."""
    if item_id not in ids:
        raise HarnessError(f"{where}: item {item_id} is not in {table}")
    return item_id
