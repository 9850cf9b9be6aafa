"""Times as people and programs type them (a filter of the CLI, the API or a page): ISO 8601,
UTC when no zone is named."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_time(text: str) -> datetime:
    """``text`` as an aware UTC time: ``2026-12-01T08:00:00Z``, ``…+01:00``, ``2026-12-01
    08:00`` (UTC), ``2026-12-01`` (its midnight, UTC); else :class:`ValueError` saying so."""
    try:
        value = datetime.fromisoformat(text.strip())
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 is before UTC's
        raise ValueError(f"not an ISO 8601 time, e.g. 2026-12-01T08:00:00Z: {text[:40]!r}"
                         ) from None  # fmt: skip
