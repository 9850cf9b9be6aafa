"""How a configuration key is declared: :func:`setting` (default, bounds, choices, pattern,
doc line) and :func:`section` (a nested table), with the :class:`Meta` the loader and the
reference generator read back (:func:`meta_of`). The keys themselves are in
:mod:`voxgate.config.schema`."""

# setting() and section() wrap dataclasses.field(); ruff only knows field() by name.

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

_T = TypeVar("_T")

#: Checks beyond the Python type: an IP address literal, a CIDR netblock, an OpenSSL cipher
#: string.
ValueKind = Literal["ip_address", "netblock", "openssl_ciphers"]


@dataclass(frozen=True, slots=True)
class Meta:
    """What the schema knows about one key (stored in the field's metadata under ``"voxgate"``)."""

    doc: str
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    kind: ValueKind | None = None
    secret: bool = False


META_KEY: Final = "voxgate"


def setting(
    default: _T,
    doc: str,
    *,
    min: int | None = None,
    max: int | None = None,
    choices: tuple[str, ...] | None = None,
    pattern: str | None = None,
    kind: ValueKind | None = None,
    secret: bool = False,
) -> _T:
    """Declare one configuration key: default, bounds (inclusive), choices and a doc line.

    For integers *min*/*max* bound the value, for strings *max* bounds the length.  *pattern*
    is a regular expression the whole string must match; *kind* names a check the loader
    applies beyond the type; *secret* keeps the value out of error messages.
    """
    meta = Meta(
        doc=doc, min=min, max=max, choices=choices, pattern=pattern, kind=kind, secret=secret
    )
    return dataclasses.field(default=default, metadata={META_KEY: meta})


def section(factory: type[_T], doc: str) -> _T:
    """Declare a nested ``[table]`` whose keys all have defaults."""
    return dataclasses.field(default_factory=factory, metadata={META_KEY: Meta(doc=doc)})


def meta_of(field: dataclasses.Field[Any]) -> Meta:
    """The :class:`Meta` declared for *field* (every schema field has one)."""
    meta = field.metadata.get(META_KEY)
    if not isinstance(meta, Meta):
        raise TypeError(f"schema field {field.name!r} was not declared with setting()")
    return meta
