"""testssl.sh (Debian `testssl.sh`) against the admin port of a real node, on 127.0.0.1 only:
no protocol below TLS 1.2 and no weak cipher category offered (its JSON findings)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from browser import ui_node

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
#: Findings that must read "not offered".
OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
WEAK_CIPHERS = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")  # fmt: skip


@pytest.mark.skipif(TESTSSL is None, reason="Debian testssl.sh is not installed")
def test_the_admin_port_offers_only_tls_1_2_and_up_with_strong_ciphers(tmp_path: Path) -> None:
    assert TESTSSL is not None
    report = tmp_path / "testssl.json"
    with ui_node(tmp_path) as ui:
        target = ui.base.removeprefix("https://")
        assert target.startswith("127.0.0.1:")
        done = subprocess.run(
            [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
             "--protocols", "--standard", "--fs", "--jsonfile", str(report), target],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    findings = {f["id"]: f for f in json.loads(report.read_text())}
    for name in OLD_PROTOCOLS + WEAK_CIPHERS:
        assert findings[name]["finding"] == "not offered", findings[name]
    assert findings["TLS1_2"]["finding"] == "offered"
    assert findings["TLS1_3"]["finding"].startswith("offered")
    assert findings["cipherlist_STRONG"]["finding"] == "offered"
    assert findings["PFS"]["finding"] == "offered"
    bad = [f for f in findings.values() if f["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")]
    assert not bad, bad
