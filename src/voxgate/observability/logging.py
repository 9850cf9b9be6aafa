"""Structured logging: text or JSON lines with call-id / branch / flow context.

Modules log through ``logging.getLogger(__name__)``; context travels in ``extra`` or in a
:class:`ContextLogger`.  Context values under secret-sounding names are redacted, and the text
format escapes control characters so that remote input cannot forge log lines.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import IO, Any, Final

LEVELS: Final[dict[str, int]] = {
    "debug": logging.DEBUG, "info": logging.INFO,
    "warning": logging.WARNING, "error": logging.ERROR,
}

#: Context keys whose values are never written (lower-cased comparison).
SECRET_KEYS: Final = frozenset({
    "password", "passwd", "secret", "private_key", "key", "ha1", "authorization",
    "proxy_authorization", "token", "api_key", "cookie", "srtp_key", "crypto",
})
REDACTED: Final = "<redacted>"

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def context_of(record: logging.LogRecord) -> dict[str, object]:
    """The ``extra`` fields of *record*, in the order given, secrets redacted."""
    return {
        name: REDACTED if name.lower() in SECRET_KEYS else value
        for name, value in vars(record).items()
        if name not in _RECORD_ATTRS and not name.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in context_of(record).items():
            entry.setdefault(name, value)  # context never overwrites the fixed fields
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


_ESCAPES: Final = {i: f"\\x{i:02x}" for i in range(32)} | {
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x7F: "\\x7f",
}


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _text_value(value: object) -> str:
    text = _escape(str(value))
    if not text or any(c in text for c in ' "=\\'):
        return json.dumps(str(value), ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``2024-05-01T12:00:00.000Z INFO voxgate.sip message key=value …`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, record.name, _escape(record.getMessage())]
        parts += [f"{name}={_text_value(value)}" for name, value in context_of(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


class _VoxgateHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler :func:`configure_logging` installed, so a second call replaces it."""


def configure_logging(
    level: str, fmt: str, *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send all logging to *stream* (standard error) at *level* in *fmt* ("text" or "json").

    Calling it again replaces the handler installed before; other handlers are left alone.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}; expected text or json")
    handler = _VoxgateHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _VoxgateHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    # Libraries that narrate every query or migration step: their warnings are enough.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(LEVELS[level], logging.WARNING))
    return handler


#: Loggers kept at warning or above whatever ``log.level`` says.
QUIET_LIBRARIES = ("aiosqlite", "sqlalchemy", "alembic", "asyncio")


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger carrying context (call_id, branch, flow, …) merged into every record.

    Context given at the call site (``extra=``) wins over the adapter's.  Keys that would
    clash with ``LogRecord`` attributes (``msg``, ``name``, …) get a trailing underscore
    instead of making the logging call raise.
    """

    def __init__(self, logger: logging.Logger, context: Mapping[str, object] | None = None):
        super().__init__(logger, dict(context or {}))

    @property
    def context(self) -> Mapping[str, object]:
        """The context this adapter adds."""
        return self.extra or {}

    def bind(self, **context: object) -> ContextLogger:
        """A new adapter on the same logger with *context* added."""
        return ContextLogger(self.logger, {**self.context, **context})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        merged = {**self.context, **(kwargs.get("extra") or {})}
        kwargs["extra"] = {
            (f"{name}_" if name in _RECORD_ATTRS else name): value
            for name, value in merged.items()
        }
        return msg, kwargs
