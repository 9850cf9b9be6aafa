"""The Markdown configuration reference, generated from the schema.

``docs/config-reference.md`` is this module's output (a test keeps them equal); regenerate it
with ``python -m voxgate.config.reference > docs/config-reference.md``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from voxgate.config.fields import Meta, meta_of
from voxgate.config.schema import Settings

_INTRO = """\
# Configuration reference

<!-- Generated from src/voxgate/config/schema.py by voxgate.config.reference; do not edit.
     Regenerate: python -m voxgate.config.reference > docs/config-reference.md -->

voxgate reads one TOML file (`voxgate init` writes `voxgate.toml` into the data directory;
`voxgate check-config FILE` validates it). Every key is optional: a missing key takes its
default. Unknown keys, wrong types and out-of-range values are errors that name the key.
Relative paths are resolved against the directory of the config file.
"""


def format_toml(value: object) -> str:
    """*value* as a TOML literal (strings, integers, booleans, paths, inline tables/arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, tuple):
        return "[" + ", ".join(format_toml(item) for item in value) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        pairs = [
            f"{field.name} = {format_toml(getattr(value, field.name))}"
            for field in dataclasses.fields(value)
            if getattr(value, field.name) is not None
        ]
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def type_name(tp: Any, meta: Meta) -> str:
    """The reader-facing type of a schema annotation."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(tp) if arg is not type(None)]
        return type_name(inner, meta) + " (optional)"
    if origin is tuple:
        if get_args(tp)[0] is str:
            return "array of " + ("netblocks" if meta.kind == "netblock" else "strings")
        return "array of tables"
    if origin is Literal:
        return "string"
    if meta.kind == "ip_address":
        return "IP address"
    if meta.kind == "openssl_ciphers":
        return "cipher string"
    names = {bool: "boolean", int: "integer", str: "string", Path: "path"}
    return names[tp]


def allowed(tp: Any, meta: Meta) -> str:
    """Bounds or choices, for the reference table."""
    if meta.choices:
        return ", ".join(f"`{choice}`" for choice in meta.choices)
    if get_origin(tp) is tuple and meta.max is not None:
        return f"at most {meta.max} entries"
    if tp is str and meta.max is not None:
        return f"at most {meta.max} characters"
    if meta.min is not None and meta.max is not None:
        return f"{meta.min} to {meta.max}"
    if meta.min is not None:
        return f"≥ {meta.min}"
    if meta.max is not None:
        return f"≤ {meta.max}"
    return ""


def schema_tables(
    cls: type[Any] = Settings, prefix: str = "", *, array: bool = False
) -> Iterator[tuple[str, bool, type[Any], list[dataclasses.Field[Any]]]]:
    """Yield ``(table path, is array of tables, dataclass, leaf fields)`` in document order."""
    hints = get_type_hints(cls)
    leaves = [f for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(hints[f.name])]
    if prefix:
        yield prefix, array, cls, leaves
    for field in dataclasses.fields(cls):
        tp = hints[field.name]
        path = f"{prefix}.{field.name}" if prefix else field.name
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            yield from schema_tables(tp, path)
        elif get_origin(tp) is tuple and dataclasses.is_dataclass(get_args(tp)[0]):
            yield from schema_tables(get_args(tp)[0], path, array=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_reference() -> str:
    """The Markdown configuration reference: one table per TOML table, one row per key."""
    out = [_INTRO]
    for path, array, cls, leaves in schema_tables():
        header = f"[[{path}]]" if array else f"[{path}]"
        out.append(f"## `{header}`\n")
        out.append(_cell((cls.__doc__ or "").strip()) + "\n")
        out.append("| key | type | default | allowed | description |")
        out.append("|---|---|---|---|---|")
        hints = get_type_hints(cls)
        for field in leaves:
            meta = meta_of(field)
            tp = hints[field.name]
            default = "—" if field.default is None else f"`{format_toml(field.default)}`"
            if meta.secret:
                default = "—"
            out.append(
                f"| `{field.name}` | {type_name(tp, meta)} | {_cell(default)} "
                f"| {allowed(tp, meta)} | {_cell(meta.doc)} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render_reference())
