"""The import rule of DESIGN.md: each layer imports only layers below it, and the
pure layer touches no I/O, no clock and no database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "voxgate"

#: voxgate packages by layer, lowest first (DESIGN.md "Layers").
LAYERS: dict[str, int] = {
    "accel": -1,  # the loader of the compiled SIP core, imported by voxgate.sip and voxgate.pbx
    "runtime": 4,  # the running node's garbage-collector settings, used by app
    "assembly": 4,  # the parts app builds from the settings
    "aio": 1,  # asyncio helpers without I/O of their own, for the services above
    **dict.fromkeys(("sip", "sdp", "policy"), 0),
    **dict.fromkeys(("storage", "config", "observability"), 1),
    **dict.fromkeys(("transport", "media", "services"), 2),
    **dict.fromkeys(("edge", "pbx", "webrtc", "proxy", "provisioning", "web"), 3),
    **dict.fromkeys(("app", "cli", "cli_security", "cli_devices", "cli_installer", "cli_admin", "cli_tls", "__main__"), 4),
}
#: Pure modules inside I/O packages: media planning (DESIGN.md "Layers").
PURE_MODULES = {"media/control.py", "media/relay/model.py", "media/relay/planner.py"}
PURE_FORBIDDEN = {"asyncio", "socket", "ssl", "time", "sqlalchemy", "aiohttp", "uvloop", "selectors"}


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def layer_of(path: Path) -> tuple[str, int]:
    top = path.relative_to(SRC).parts[0].removesuffix(".py")
    assert top in LAYERS, f"{path}: package {top!r} has no layer in DESIGN.md; add it here"
    return top, LAYERS[top]


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    package, layer = layer_of(path)
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "voxgate" and len(parts) > 1:
            target = parts[1]
            assert target in LAYERS, f"{path}: imports unknown package voxgate.{target}"
            # Pure packages may use each other, and so may the composition modules.
            same_layer_ok = layer in (0, 4) and LAYERS[target] == layer
            assert target == package or LAYERS[target] < layer or same_layer_ok, (
                f"{path} (layer {layer}) imports voxgate.{target} (layer {LAYERS[target]})"
            )
        if layer == 0 or path.relative_to(SRC).as_posix() in PURE_MODULES:
            assert parts[0] not in PURE_FORBIDDEN, f"pure module {path} imports {name}"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import socket\nfrom voxgate.transport import x\n")
    assert imports(bad) == ["socket", "voxgate.transport"]
