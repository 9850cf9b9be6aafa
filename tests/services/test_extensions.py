"""Extensions service on SQLite and on PostgreSQL: validation, strong secrets, HA1 only, CSV
import all-or-nothing with line numbers, export → import round trip, 1,000 rows in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from voxgate.services.audit import Actor
from voxgate.services.extensions import CsvImportError, ExtensionError, ExtensionService, hashes
from voxgate.services.secrets_policy import generate_secret, weakness
from voxgate.sip.digest import ha1
from voxgate.storage.engine import Store

GOOD = "Tq7-vLp2-Wz9k"


def with_service(url: str, body: Callable[[ExtensionService], Awaitable[None]], realm: str = "voxgate") -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await body(ExtensionService(store, realm))
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("secret", "why"),
    [("short", "too short"), ("password1234", "too weak"), ("2012012012", "too weak"), ("abc def ghij", "spaces")],
)
def test_weak_secrets_are_refused_with_a_reason(secret: str, why: str) -> None:
    problem = weakness(secret, context=("201",))
    assert problem is not None
    assert why in problem


def test_a_long_secret_is_scored_not_refused_by_the_estimator() -> None:
    # zxcvbn 4.5 raises ValueError past 72 characters (schemathesis found it as a 500)
    assert weakness(GOOD * 20) is None
    assert weakness("a" * 300) is not None


def test_generated_secrets_are_strong_and_distinct() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(weakness(s) is None and len(s) == 20 for s in secrets)


def test_add_stores_ha1_for_both_algorithms_never_the_secret(store_url: str) -> None:
    async def body(service: ExtensionService) -> None:
        record = await service.add("201", GOOD, display_name="Alice")
        assert record.ha1_md5 == ha1("MD5", "201", "voxgate", GOOD)
        assert record.ha1_sha256 == ha1("SHA-256", "201", "voxgate", GOOD)
        with pytest.raises(ExtensionError, match="exists already"):
            await service.add("201", GOOD)
        with pytest.raises(ExtensionError, match="2 to 15 digits"):
            await service.add("20a", GOOD)
        with pytest.raises(ExtensionError, match="too weak"):
            await service.add("202", "qwertyuiop")

    with_service(store_url, body)
    if store_url.startswith("sqlite"):  # not in the file, nor in a write-ahead log left behind
        for path in Path(store_url.split(":///", 1)[1]).parent.iterdir():
            assert GOOD.encode() not in path.read_bytes()


def test_change_and_delete(store_url: str) -> None:
    async def body(service: ExtensionService) -> None:
        await service.add("201", GOOD)
        changed = await service.change("201", enabled=False, max_contacts=3, display_name="Desk")
        assert (changed.enabled, changed.max_contacts, changed.display_name) == (False, 3, "Desk")
        back = await service.change("201", max_contacts=None, secret="Other-Secret-99x")
        assert back.max_contacts is None
        assert back.ha1_md5 == ha1("MD5", "201", "voxgate", "Other-Secret-99x")
        await service.delete("201")
        with pytest.raises(ExtensionError, match="no extension 201"):
            await service.get("201")

    with_service(store_url, body)


def test_import_reports_every_bad_line_and_writes_nothing(store_url: str) -> None:
    text = (
        "number,display_name,secret,enabled,max_contacts\n"
        f"201,Alice,{GOOD},true,\n"          # line 2: good
        "202,Bob,weak,true,\n"               # 3: short secret
        f"2x3,Carol,{GOOD},true,\n"          # 4: bad number
        f"201,Dup,{GOOD},true,\n"            # 5: duplicate of line 2
        f"204,Eve,{GOOD},maybe,\n"           # 6: bad flag
        f"205,Frank,{GOOD},true,500\n"       # 7: max_contacts out of range
        "206,Gina\n"                         # 8: field count
    )

    async def body(service: ExtensionService) -> None:
        with pytest.raises(CsvImportError) as failure:
            await service.import_csv(text)
        lines = [p.split(":")[0] for p in failure.value.problems]
        assert lines == [f"line {n}" for n in (3, 4, 5, 6, 7, 8)]
        assert await service.all() == []

    with_service(store_url, body)


def test_import_existing_numbers_need_update_and_export_round_trips(store_url: str) -> None:
    async def body(service: ExtensionService) -> None:
        await service.add("201", GOOD, display_name="Alice")
        with pytest.raises(CsvImportError, match="line 2: extension 201 exists already"):
            await service.import_csv(f"number,secret\n201,{GOOD}\n")
        report = await service.import_csv(f"number,display_name,secret\n201,Alicia,{GOOD}\n202,Bob,{GOOD}\n", update=True)
        assert (report.added, report.updated) == (1, 1)
        exported = await service.export(await service.all(), Actor("admin:ops", "192.0.2.9"))
        assert GOOD not in exported and exported == service.export_csv(await service.all())
        [event] = await service.audit.recent(action_prefix="extension.export")
        assert (event.actor, event.source, event.target, event.detail) == (
            "admin:ops", "192.0.2.9", "2 extension(s)", "with HA1 values")
        await service.delete("201")
        await service.delete("202")
        report = await service.import_csv(exported)
        assert report.added == 2
        alicia = await service.get("201")
        assert alicia.display_name == "Alicia"
        assert alicia.ha1_md5 == ha1("MD5", "201", "voxgate", GOOD)

    with_service(store_url, body)


def test_ha1_import_from_another_realm_is_refused(store_url: str) -> None:
    line = f"201,A,true,,other,{'a' * 32},{'b' * 64}\n"

    async def body(service: ExtensionService) -> None:
        with pytest.raises(CsvImportError, match="line 2: realm 'other'"):
            await service.import_csv("number,display_name,enabled,max_contacts,realm,ha1_md5,ha1_sha256\n" + line)

    with_service(store_url, body)


def test_thousand_row_import_is_fast(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """1,000 rows, each secret checked by zxcvbn and hashed twice (the time is in
    docs/benchmarks.md; no timing is asserted here)."""
    rows = "".join(f"{n},Ext {n},{generate_secret()},true,\n" for n in range(1000, 2000))
    text = "number,display_name,secret,enabled,max_contacts\n" + rows

    async def body(service: ExtensionService) -> None:
        report = await service.import_csv(text)
        assert report.added == 1000
        assert len(await service.all()) == 1000
        again = await service.import_csv(service.export_csv(await service.all()), update=True)
        assert (again.added, again.updated) == (0, 1000)

    with_service(store_url, body)


def test_import_from_a_file_with_a_byte_order_mark(store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "ext.csv"
    path.write_text(f"number,secret\n201,{GOOD}\n", encoding="utf-8-sig")

    async def body(service: ExtensionService) -> None:
        assert (await service.import_csv(path)).added == 1
        with pytest.raises(ExtensionError, match="cannot read"):
            await service.import_csv(tmp_path / "missing.csv")
        with pytest.raises(CsvImportError, match="line 1: the header needs a 'secret' column"):
            await service.import_csv("number,name\n202,x\n")
        assert (await service.import_csv("number,secret\n")).added == 0

    with_service(store_url, body)


def test_search_and_count_by_number_or_name(store_url: str) -> None:
    async def body(service: ExtensionService) -> None:
        for number, name in (("201", "Alice"), ("202", "Bob"), ("310", "Front desk"), ("3201", "")):
            await service.add(number, GOOD + number, display_name=name)
        assert await service.count() == 4
        assert [r.number for r in await service.list(search="20")] == ["201", "202", "3201"]
        assert [r.number for r in await service.list(search="front")] == ["310"]  # any case
        assert await service.count(search="20") == 3
        assert [r.number for r in await service.list(offset=1, limit=2)] == ["202", "310"]
        assert await service.list(search="%") == []  # a wildcard is a character

    with_service(store_url, body)


def test_an_import_refused_by_the_caller_names_the_lines_and_writes_nothing(store_url: str) -> None:
    text = f"number,secret\n201,{GOOD}1\n301,{GOOD}2\n202,{GOOD}3\n"

    async def body(service: ExtensionService) -> None:
        with pytest.raises(CsvImportError) as refused:
            await service.import_csv(text, refuse=lambda n: None if n.startswith("2") else f"extension {n} is not yours")
        assert refused.value.problems == ["line 3: extension 301 is not yours"]
        assert await service.count() == 0
        assert (await service.import_csv(text, refuse=lambda n: None)).added == 3

    with_service(store_url, body)


def test_a_lone_carriage_return_ends_a_line(store_url: str) -> None:
    """As csvrows reads it (schemathesis sent '\\r0' to an import: the csv module refused it)."""

    async def body(service: ExtensionService) -> None:
        with pytest.raises(CsvImportError) as refused:
            await service.import_csv("number,secret\r0")
        assert refused.value.problems == ["line 2: 1 fields, the header has 2"]
        assert (await service.import_csv(f"number,secret\r201,{GOOD}\r")).added == 1

    with_service(store_url, body)


def test_an_import_reports_its_progress(store_url: str) -> None:
    rows = "".join(f"{n},Ext {n},true,,voxgate,{','.join(hashes(str(n), 'voxgate', GOOD))}\n" for n in range(1000, 2200))
    text = "number,display_name,enabled,max_contacts,realm,ha1_md5,ha1_sha256\n" + rows
    reports: list[tuple[str, int, int]] = []

    async def body(service: ExtensionService) -> None:
        assert (await service.import_csv(text, progress=lambda *r: reports.append(r))).added == 1200
        assert reports == [("checking", 500, 1202), ("checking", 1000, 1202), ("writing", 0, 1200), ("writing", 1200, 1200)]

    with_service(store_url, body)
