"""The web administration of a node seen from inside a lab's network namespace: an account
added with the CLI, then a real HTTPS login (login token, cookie, password) and a page,
fetched by a small Python script run in the namespace (the node's admin port is only
reachable there)."""

from __future__ import annotations

import html
import re
import time
from typing import Final

from netns import Namespace
from peers import Node, voxgate

LISTENING: Final = re.compile(r"admin: listening on https (\S+):(\d+)")
PASSWORD: Final = "Lab-watcher-9-Zq4!"

_FETCH: Final = r"""
import http.cookiejar, re, ssl, sys, urllib.parse, urllib.request
base, user, password, path = sys.argv[1:5]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE  # the lab's certificate names the edge, not this address
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                     urllib.request.HTTPSHandler(context=context))
form = opener.open(base + "/login", timeout=10).read().decode()
token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
data = urllib.parse.urlencode({"username": user, "password": password, "csrf_token": token,
                               "next": path}).encode()
page = opener.open(base + "/login", data=data, timeout=10)
sys.stdout.write(page.read().decode())
"""


def add_watcher(node: Node, name: str = "watcher") -> str:
    """A system administrator ``name`` whose password need not change; its name."""
    done = voxgate(node, "admin", "add", name, "--role", "system", "--no-must-change",
                   stdin=PASSWORD + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return name


def admin_address(node: Node, timeout: float = 10) -> tuple[str, int]:
    """The node's admin address and port, from its log."""
    deadline = time.monotonic() + timeout
    while True:
        found = LISTENING.search(node.log_text())
        if found:
            return found.group(1), int(found.group(2))
        assert time.monotonic() < deadline, "the node's admin server never listened"
        time.sleep(0.1)


def fetch_page(ns: Namespace, address: tuple[str, int], user: str, path: str = "/") -> str:
    """Log in as ``user`` from inside ``ns`` and return the HTML of ``path``."""
    host, port = address
    return ns.run("python3", "-c", _FETCH, f"https://{host}:{port}", user, PASSWORD, path)


def section_text(page: str, label: str) -> str:
    """The text of the ``<section aria-label=label>`` of ``page``, tags removed, one line
    per table row."""
    start = page.index(f'aria-label="{label}"')
    body = page[start:page.index("</section>", start)]
    rows = re.sub(r"\s+", " ", body).replace("</tr>", "\n")
    return html.unescape(re.sub(r"<[^>]+>", " ", rows))
