"""The SIP core and the call control's pure modules compiled to C with mypyc, when built.

The modules of :data:`MODULES` are plain, ``mypy --strict`` clean Python.  ``python -m
voxgate.accel build`` compiles them with mypyc into a directory of their own (by default
``.build/accel`` next to ``src/``, or ``$VOXGATE_ACCEL_DIR``), beside a manifest with the
SHA-256 of the sources it compiled.  On import, :func:`install` puts that directory ahead of
the sources in the package's ``__path__``, so ``voxgate.sip.parser`` and the others load from
the compiled extensions, but only when the manifest matches the sources exactly and this
interpreter's extension suffix: an edited source makes the whole build stale, and every module
then runs as plain Python (nothing is ever half compiled).  ``VOXGATE_PURE=1`` turns it off.

The compiled modules run the same code roughly 1.7 times faster (bench/bench_register_pair.py,
docs/benchmarks.md); behaviour is the same, checked by running the test suite against them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import MutableSequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: Compiled modules, relative to the ``voxgate`` package.  Only pure modules that never need
#: monkeypatching, asyncio or a database belong here.
MODULES: Final = (
    "sip/errors.py", "sip/grammar.py", "sip/uri.py", "sip/headers.py", "sip/message.py",
    "sip/parser.py", "sip/flow.py", "sip/timers.py", "sip/transaction.py", "sip/authparams.py",
    "sip/digest.py",
    "sip/actions.py", "sip/dialog.py", "sip/uas.py", "sip/endpoint.py", "sip/b2bua.py",
    "pbx/directory.py", "pbx/location.py", "pbx/registrar.py", "pbx/callstate.py",
    "pbx/calls.py", "pbx/core.py",
)  # fmt: skip
#: The packages whose ``__path__`` :func:`install` extends.
PACKAGES: Final = ("sip", "pbx")
MANIFEST: Final = "voxgate-accel.json"

_PACKAGE_DIR: Final = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class State:
    """Whether the compiled modules are in use, and why (for the start-up log)."""

    active: bool
    reason: str


_state: State | None = None


def default_dir() -> Path:
    """Where the build goes: ``$VOXGATE_ACCEL_DIR``, else ``.build/accel`` beside ``src``."""
    configured = os.environ.get("VOXGATE_ACCEL_DIR")
    if configured:
        return Path(configured)
    return _PACKAGE_DIR.parent.parent / ".build" / "accel"


def source_digest(package_dir: Path = _PACKAGE_DIR) -> str:
    """SHA-256 over the names and contents of :data:`MODULES` under ``package_dir``."""
    digest = hashlib.sha256()
    for name in MODULES:
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update((package_dir / name).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _ext_suffix() -> str:
    return str(sysconfig.get_config_var("EXT_SUFFIX"))


def check(build_dir: Path, package_dir: Path = _PACKAGE_DIR) -> State:
    """Whether the build in ``build_dir`` matches the sources in ``package_dir``."""
    try:
        manifest = json.loads((build_dir / MANIFEST).read_text())
    except FileNotFoundError:
        return State(False, f"not built (python -m voxgate.accel build makes {build_dir})")
    except (OSError, ValueError) as err:
        return State(False, f"unreadable manifest {build_dir / MANIFEST}: {err}")
    if not isinstance(manifest, dict):
        return State(False, f"unreadable manifest {build_dir / MANIFEST}")
    if manifest.get("ext_suffix") != _ext_suffix():
        return State(False, f"built for another interpreter ({manifest.get('ext_suffix')})")
    try:
        current = source_digest(package_dir)
    except OSError as err:
        return State(False, f"sources unreadable: {err}")
    if manifest.get("digest") != current:
        return State(False, "out of date: the sources changed since the build")
    missing = [m for m in MODULES if not (build_dir / "voxgate" / _compiled_name(m)).is_file()]
    if missing:
        return State(False, f"incomplete build: {missing[0]} missing")
    return State(True, f"compiled with mypyc ({build_dir})")


def _compiled_name(module: str) -> str:
    return module.removesuffix(".py") + _ext_suffix()


def install(package: str, package_path: MutableSequence[str]) -> None:
    """Called by ``voxgate.sip`` and ``voxgate.pbx`` on import: prepend the compiled modules'
    directory to the package's ``__path__`` when the build is current."""
    state = status()
    if not state.active:
        return
    build_dir = default_dir()
    root = str(build_dir)
    if root not in sys.path:
        sys.path.append(root)  # the shared runtime module; its name is unique to the build
    compiled = str(build_dir / "voxgate" / package)
    if compiled not in package_path:
        package_path.insert(0, compiled)


def status() -> State:
    """Whether the compiled modules are in use in this process (decided once)."""
    global _state  # noqa: PLW0603 - decided once per process, before the first module loads
    if _state is None:
        if os.environ.get("VOXGATE_PURE", "") not in ("", "0"):
            _state = State(False, "turned off (VOXGATE_PURE)")
        else:
            _state = check(default_dir())
    return _state


def build(build_dir: Path, *, quiet: bool = False) -> None:
    """Compile :data:`MODULES` with mypyc into ``build_dir`` (replaced as a whole).

    The sources are copied to a scratch directory first, so the extensions never land beside
    the sources (where they would shadow later edits).  Raises :class:`RuntimeError` with
    mypyc's output when the compilation fails.
    """
    digest = source_digest()
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="voxgate-accel-") as scratch:
        work = Path(scratch)
        shutil.copytree(_PACKAGE_DIR, work / "voxgate",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))  # fmt: skip
        done = subprocess.run(  # noqa: S603 - our interpreter, our module list
            [sys.executable, "-m", "mypyc", *(f"voxgate/{m}" for m in MODULES)],
            cwd=work, capture_output=True, text=True, check=False,
            env={**os.environ, "MYPYC_OPT_LEVEL": os.environ.get("MYPYC_OPT_LEVEL", "3")},
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"mypyc failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
        staged = work / "out"
        for module in MODULES:
            target = staged / "voxgate" / _compiled_name(module)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(work / "voxgate" / _compiled_name(module), target)
        for shared in work.glob(f"*__mypyc{_ext_suffix()}"):
            shutil.move(shared, staged / shared.name)
        (staged / MANIFEST).write_text(json.dumps(
            {"digest": digest, "ext_suffix": _ext_suffix(), "modules": list(MODULES)}, indent=1
        ))  # fmt: skip
        old = build_dir.with_name(build_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if build_dir.exists():
            build_dir.rename(old)
        shutil.move(staged, build_dir)
        shutil.rmtree(old, ignore_errors=True)
    if not quiet:
        print(f"voxgate: compiled {len(MODULES)} modules into {build_dir}")


def main(argv: list[str] | None = None) -> int:
    """``python -m voxgate.accel build|status [--if-needed]``."""
    args = sys.argv[1:] if argv is None else argv
    build_dir = default_dir()
    if args[:1] == ["status"]:
        state = check(build_dir)
        print(state.reason)
        return 0 if state.active else 1
    if args[:1] == ["build"]:
        if "--if-needed" in args[1:] and check(build_dir).active:
            return 0
        try:
            build(build_dir)
        except (RuntimeError, OSError) as err:
            print(f"voxgate: could not compile the SIP core ({err}); it runs as plain Python",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    print("usage: python -m voxgate.accel build [--if-needed] | status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
