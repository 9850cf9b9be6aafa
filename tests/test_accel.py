"""The compiled SIP core (voxgate.accel): used only when its build matches the sources."""

from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

import pytest

import voxgate.pbx.core
import voxgate.sip.parser
from voxgate import accel

SUFFIX = str(sysconfig.get_config_var("EXT_SUFFIX"))


def fake_build(directory: Path, digest: str, *, suffix: str = SUFFIX, skip: str = "") -> Path:
    for module in accel.MODULES:
        if module != skip:
            path = directory / "voxgate" / (module.removesuffix(".py") + SUFFIX)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    (directory / accel.MANIFEST).write_text(json.dumps({"digest": digest, "ext_suffix": suffix}))
    return directory


def test_a_build_matching_the_sources_is_used(tmp_path: Path) -> None:
    state = accel.check(fake_build(tmp_path, accel.source_digest()))
    assert state.active, state.reason


def test_no_build_is_plain_python(tmp_path: Path) -> None:
    state = accel.check(tmp_path)
    assert not state.active
    assert "not built" in state.reason


def test_an_edited_source_makes_the_whole_build_stale(tmp_path: Path) -> None:
    package = tmp_path / "src"
    for module in accel.MODULES:
        (package / module).parent.mkdir(parents=True, exist_ok=True)
        (package / module).write_text(f"# {module}\n")
    build = fake_build(tmp_path / "build", accel.source_digest(package))
    assert accel.check(build, package).active
    (package / "sip/parser.py").write_text("# sip/parser.py, edited\n")
    state = accel.check(build, package)
    assert not state.active
    assert "out of date" in state.reason


def test_another_interpreter_or_a_missing_module_is_refused(tmp_path: Path) -> None:
    digest = accel.source_digest()
    other = accel.check(fake_build(tmp_path / "a", digest, suffix=".cpython-39-x86_64.so"))
    assert not other.active
    assert "another interpreter" in other.reason
    partial = accel.check(fake_build(tmp_path / "b", digest, skip="sip/uri.py"))
    assert not partial.active
    assert "sip/uri.py missing" in partial.reason
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / accel.MANIFEST).write_text("[not, json")
    assert "unreadable manifest" in accel.check(tmp_path / "c").reason


@pytest.mark.skipif(os.environ.get("VOXGATE_ACCEL_REQUIRED") != "1",
                    reason="./test sets VOXGATE_ACCEL_REQUIRED=1 (the suite runs compiled)")  # fmt: skip
def test_the_suite_runs_the_compiled_modules() -> None:
    state = accel.status()
    assert state.active, f"the compiled SIP core is not in use: {state.reason}"
    assert voxgate.sip.parser.__file__ is not None
    assert voxgate.sip.parser.__file__.endswith(SUFFIX)
    assert voxgate.pbx.core.__file__ is not None
    assert voxgate.pbx.core.__file__.endswith(SUFFIX)
