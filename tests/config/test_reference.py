from __future__ import annotations

import dataclasses
from pathlib import Path

from voxgate.config.reference import format_toml, render_reference, schema_tables

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "config-reference.md"


def test_committed_reference_matches_the_schema() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "docs/config-reference.md is stale; regenerate it with "
        "`python -m voxgate.config.reference > docs/config-reference.md`"
    )


def test_reference_lists_every_table_and_key() -> None:
    text = render_reference()
    for path, array, _cls, leaves in schema_tables():
        assert (f"`[[{path}]]`" if array else f"`[{path}]`") in text
        for field in leaves:
            assert f"| `{field.name}` |" in text


def test_reference_shows_bounds_and_choices() -> None:
    text = render_reference()
    assert "| `port` | integer (optional) | — | 0 to 65535 |" in text
    assert "`debug`, `info`, `warning`, `error`" in text
    assert "| `max_message_size` | integer | `65535` | 1024 to 1048576 |" in text


def test_format_toml() -> None:
    @dataclasses.dataclass
    class Pair:
        a: int = 1
        b: str | None = None

    assert format_toml(True) == "true"
    assert format_toml(Path("tls/x.pem")) == '"tls/x.pem"'
    assert format_toml('say "hi"') == '"say \\"hi\\""'
    assert format_toml((Pair(),)) == "[{a = 1}]"
