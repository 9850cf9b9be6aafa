"""How far a CSV import is, for the page that sent it.

An import form carries a random ``import_id`` (hidden field).  While the import runs, the
service reports its progress (:data:`voxgate.services.csvrows.Progress`) into an
:class:`ImportTracker` entry keyed by the session and that id; the page's script
(``/static/import.js``) polls ``GET /imports/progress?id=…`` (:mod:`voxgate.web.ui.imports`)
and shows a progress bar: the lines checked, then the rows written.  Without the script the
form posts as usual and the result page comes when the import is done.

Entries belong to the session that started them (another session asking gets ``404``), are
few (:data:`MAX_IMPORTS`, oldest dropped first) and are forgotten :data:`KEEP` seconds after
the import ends.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from voxgate.services.csvrows import Progress

#: Imports remembered at once (every session together).
MAX_IMPORTS: Final = 64
#: Seconds an ended import stays readable.
KEEP: Final = 120.0
#: What an import id looks like (the page makes it with ``secrets.token_urlsafe(12)``).
IMPORT_ID: Final = re.compile(r"[A-Za-z0-9_-]{16}")


@dataclass(slots=True)
class ImportState:
    """One import: its phase (``checking``, ``writing``, ``done``), rows done of total."""

    phase: str = "checking"
    done: int = 0
    total: int = 0
    ended_at: float | None = None

    def as_json(self) -> dict[str, object]:
        """The answer to the page's script."""
        return {"phase": self.phase, "done": self.done, "total": self.total}


class ImportTracker:
    """The imports under way, by (session id, import id)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._imports: OrderedDict[tuple[str, str], ImportState] = OrderedDict()

    def start(self, session_id: str, import_id: str) -> Progress | None:
        """A new entry and the callback that updates it; ``None`` for an id that is not one
        (the import then runs without progress)."""
        if not IMPORT_ID.fullmatch(import_id):
            return None
        self._forget_ended()
        key = (session_id, import_id)
        state = self._imports[key] = ImportState()
        self._imports.move_to_end(key)
        while len(self._imports) > MAX_IMPORTS:
            self._imports.popitem(last=False)

        def report(phase: str, done: int, total: int) -> None:
            state.phase, state.done, state.total = phase, done, total

        return report

    def end(self, session_id: str, import_id: str) -> None:
        """The import ended (whatever its outcome)."""
        state = self._imports.get((session_id, import_id))
        if state is not None:
            state.phase = "done"
            state.ended_at = self._clock()

    def get(self, session_id: str, import_id: str) -> ImportState | None:
        """The entry, if this session started it and it is still remembered."""
        self._forget_ended()
        return self._imports.get((session_id, import_id))

    def __len__(self) -> int:
        return len(self._imports)

    def _forget_ended(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._imports.items()
                    if s.ended_at is not None and now - s.ended_at > KEEP]:  # fmt: skip
            del self._imports[key]
