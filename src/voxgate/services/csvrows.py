"""Reading the bulk-provisioning CSV files (AUTH-5): a header row naming the columns, rows
numbered as a text editor shows them (the header is line 1), every bad row reported and
nothing written unless every row is good."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

_TRUE: Final = frozenset({"1", "true", "yes", "y", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "n", "off"})
#: Rows between two progress reports of an import (each also lets the event loop serve
#: other requests: a page asking how far the import is, for one).
PROGRESS_STEP: Final = 500

#: How far an import is: ``(phase, done, total)``, phase ``"checking"`` (lines read of about
#: ``total``) or ``"writing"`` (rows written of ``total``).
Progress = Callable[[str, int, int], None]


class CsvError(ValueError):
    """A file that cannot be read, or a bad cell; the message says why."""


def read_text(source: Path | str) -> str:
    """The text of a CSV file (a UTF-8 byte-order mark, as spreadsheets write, is dropped),
    or ``source`` itself when it is already text."""
    if not isinstance(source, Path):
        return source.removeprefix("\ufeff")
    try:
        return source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise CsvError(f"cannot read {source}: {err}") from err


def rows(
    text: str, required: Sequence[str], known: Sequence[str], problems: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {column: stripped cell})`` for every non-blank row; a bad header or a row with
    the wrong number of fields is added to ``problems`` instead."""
    # newline=None: a lone CR ends a line too (old Mac files), as a text editor shows it
    reader = csv.reader(io.StringIO(text, newline=None))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        problems.append("line 1: empty file (a header row is required)")
        return
    except csv.Error as err:
        problems.append(f"line 1: not CSV ({err})")
        return
    missing = [c for c in required if c not in header]
    unknown = sorted(set(header) - set(known))
    if missing or unknown or len(set(header)) != len(header):
        why = (f"the header needs column(s) {', '.join(missing)}" if missing else
               f"unknown column(s) {', '.join(unknown)}" if unknown else
               "a column appears twice")  # fmt: skip
        problems.append(f"line 1: {why}")
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # e.g. a quote never closed: the rest cannot be read
            problems.append(f"line {reader.line_num}: not CSV ({err})")
            return
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"line {line}: {len(row)} fields, the header has {len(header)}")
            continue
        yield line, {h: cell.strip() for h, cell in zip(header, row, strict=True)}


async def checking(progress: Progress | None, line: int, text: str) -> None:
    """Report ``line`` as read (every :data:`PROGRESS_STEP` lines) and let the loop run."""
    if progress is not None and line % PROGRESS_STEP == 0:
        total = text.count("\n") + 1  # a quoted line break counts too: "about" that many
        progress("checking", min(line, total), total)
        await asyncio.sleep(0)


def flag(text: str, default: bool | None) -> bool | None:
    """true/false/yes/no/1/0/on/off; an empty cell gives ``default``."""
    value = text.strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CsvError(f"enabled {text!r} is not true or false")


def by_line(problems: list[str]) -> list[str]:
    """``problems`` ordered by their line numbers."""

    def line_of(problem: str) -> int:
        head = problem.split(":", 1)[0].removeprefix("line ")
        return int(head) if head.isdigit() else 0

    return sorted(problems, key=line_of)


def to_text(header: Sequence[str], records: Iterator[Sequence[object]]) -> str:
    """CSV text with ``header`` and one row per record."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return out.getvalue()
