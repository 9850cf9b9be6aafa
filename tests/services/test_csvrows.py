"""CSV rows of the bulk imports: what the csv module cannot read is a numbered problem, never
an exception (schemathesis once sent "\\r0" to the device import and got a 500)."""

from __future__ import annotations

from voxgate.services import csvrows


def read(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    problems: list[str] = []
    rows = list(csvrows.rows(text, ("mac",), ("mac", "description"), problems))
    return rows, problems


def test_a_lone_carriage_return_ends_a_line() -> None:
    rows, problems = read("mac,description\r00:04:13:00:00:01,desk\r")
    assert problems == []
    assert rows == [(2, {"mac": "00:04:13:00:00:01", "description": "desk"})]


def test_garbage_header_is_a_problem_not_an_exception() -> None:
    rows, problems = read("\r0")
    assert rows == []
    assert problems == ["line 1: the header needs column(s) mac"]


def test_a_carriage_return_inside_a_field_splits_the_line_as_an_editor_shows_it() -> None:
    rows, problems = read("mac,description\n00:04:13:00:00:01,left\rright\n")
    assert rows == [(2, {"mac": "00:04:13:00:00:01", "description": "left"})]
    assert problems == ["line 3: 1 fields, the header has 2"]
