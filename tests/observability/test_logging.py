from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from voxgate.observability.logging import (
    REDACTED,
    ContextLogger,
    JsonFormatter,
    TextFormatter,
    configure_logging,
)


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _configured(fmt: str, level: str = "debug") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level, fmt, stream=stream)
    return stream


def test_json_lines_carry_the_fixed_fields_and_context() -> None:
    stream = _configured("json")
    logging.getLogger("voxgate.sip.transaction").info(
        "response %d sent", 200,
        extra={"call_id": "a84b4c76e66710", "branch": "z9hG4bK776asdhds", "flow": "udp:1.2.3.4",
               "method": "INVITE", "status": 200, "duration_ms": 12.5},
    )
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry == {
        "ts": entry["ts"], "level": "info", "logger": "voxgate.sip.transaction",
        "msg": "response 200 sent", "call_id": "a84b4c76e66710", "branch": "z9hG4bK776asdhds",
        "flow": "udp:1.2.3.4", "method": "INVITE", "status": 200, "duration_ms": 12.5,
    }
    assert entry["ts"].endswith("Z")
    moment = datetime.fromisoformat(entry["ts"])
    assert moment.utcoffset() is not None
    assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert list(entry)[:4] == ["ts", "level", "logger", "msg"]


def test_json_keeps_multiline_messages_and_exceptions_on_one_line() -> None:
    stream = _configured("json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("t").exception("line one\nline two")
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["msg"] == "line one\nline two"
    assert entry["level"] == "error"
    assert "ValueError: boom" in entry["exc"]


def test_json_context_cannot_overwrite_fixed_fields() -> None:
    record = logging.makeLogRecord({"name": "t", "msg": "hi", "levelname": "INFO", "ts": "x",
                                    "level": "forged"})
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "info"
    assert entry["ts"] != "x"


def test_json_serializes_unknown_objects_as_text() -> None:
    record = logging.makeLogRecord({"name": "t", "msg": "hi", "levelname": "INFO",
                                    "peer": ("1.2.3.4", 5060), "obj": object()})
    entry = json.loads(JsonFormatter().format(record))
    assert entry["peer"] == ["1.2.3.4", 5060]
    assert entry["obj"].startswith("<object object")


def test_text_appends_context_as_key_value() -> None:
    stream = _configured("text")
    logging.getLogger("voxgate.edge").warning(
        "registration refused",
        extra={"call_id": "abc@host", "status": 403, "reason": "no such user"},
    )
    line = stream.getvalue().rstrip("\n")
    timestamp, rest = line.split(" ", 1)
    assert timestamp.endswith("Z")
    assert rest == ('WARNING voxgate.edge registration refused call_id=abc@host status=403 '
                    'reason="no such user"')


def test_text_escapes_control_characters_so_lines_cannot_be_forged() -> None:
    stream = _configured("text")
    logging.getLogger("t").info("ua=%s", "evil\r\n2024-01-01T00:00:00Z INFO forged",
                                extra={"user_agent": "x\ny"})
    assert len(stream.getvalue().splitlines()) == 1
    assert "evil\\r\\n2024" in stream.getvalue()
    assert 'user_agent="x\\ny"' in stream.getvalue()


def test_secrets_are_redacted_in_both_formats() -> None:
    for fmt in ("text", "json"):
        stream = _configured(fmt)
        logging.getLogger("t").info("auth", extra={"password": "hunter2", "HA1": "abc123",
                                                   "authorization": "Digest response=x"})
        output = stream.getvalue()
        for secret in ("hunter2", "abc123", "Digest response"):
            assert secret not in output
        assert REDACTED in output


def test_level_filters() -> None:
    stream = _configured("text", level="warning")
    logging.getLogger("t").info("quiet")
    logging.getLogger("t").error("loud")
    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue()


def test_configure_twice_replaces_its_own_handler_only() -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    first = configure_logging("info", "text", stream=io.StringIO())
    second = configure_logging("info", "json", stream=io.StringIO())
    assert first not in root.handlers
    assert second in root.handlers
    assert foreign in root.handlers
    assert isinstance(second.formatter, JsonFormatter)
    assert isinstance(first.formatter, TextFormatter)


@pytest.mark.parametrize(("level", "fmt"), [("loud", "text"), ("info", "xml")])
def test_configure_rejects_unknown_values(level: str, fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown log"):
        configure_logging(level, fmt, stream=io.StringIO())


def test_context_logger_merges_context() -> None:
    stream = _configured("json")
    log = ContextLogger(logging.getLogger("voxgate.transport"), {"flow": "tls:10.0.0.1:5061"})
    call = log.bind(call_id="c1", branch="z9hG4bK1")
    call.info("received", extra={"method": "BYE", "branch": "z9hG4bK2"})
    log.info("closed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["flow"] == "tls:10.0.0.1:5061"
    assert first["call_id"] == "c1"
    assert first["method"] == "BYE"
    assert first["branch"] == "z9hG4bK2"  # the call site wins
    assert "call_id" not in second
    assert call.context == {"flow": "tls:10.0.0.1:5061", "call_id": "c1", "branch": "z9hG4bK1"}


def test_context_logger_renames_keys_that_clash_with_record_attributes() -> None:
    stream = _configured("json")
    ContextLogger(logging.getLogger("t"), {"name": "alice", "msg": "x"}).info("hello")
    entry = json.loads(stream.getvalue())
    assert entry["logger"] == "t"
    assert entry["msg"] == "hello"
    assert entry["name_"] == "alice"
    assert entry["msg_"] == "x"
