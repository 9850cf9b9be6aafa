"""Strong-secret rules for SIP registration secrets, and generated secrets.

A SIP digest secret protects an extension against toll fraud; it is typed into a phone
once, so it can be long.  The rule: at least 10 characters and a zxcvbn score of 3 or
more ("safely unguessable", about 10^8 guesses).
"""

from __future__ import annotations

import secrets
from typing import Final

from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # no stubs published

MIN_LENGTH: Final = 10
MIN_SCORE: Final = 3
#: No 0/O, 1/l/I: secrets are read off a screen and typed on phone keypads.
ALPHABET: Final = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH: Final = 20
#: Characters zxcvbn scores (4.5 raises on longer input; the rest only adds strength).
SCORED_LENGTH: Final = 72


def weakness(secret: str, *, context: tuple[str, ...] = ()) -> str | None:
    """Why ``secret`` is too weak, or ``None`` when it is acceptable.

    ``context`` holds words an attacker knows (the extension number, its name).
    """
    if len(secret) < MIN_LENGTH:
        return f"secret is too short: use at least {MIN_LENGTH} characters, or --generate-secret"
    if any(c.isspace() or not c.isprintable() for c in secret):
        return "secret must not contain spaces or control characters"
    result = zxcvbn(secret[:SCORED_LENGTH], user_inputs=[c for c in context if c])
    if result["score"] < MIN_SCORE:
        warning = str(result["feedback"].get("warning") or "it is easy to guess").rstrip(".")
        return (
            f"secret is too weak: {warning[:1].lower()}{warning[1:]}; use at least "
            f"{MIN_LENGTH} characters that are hard to guess, or --generate-secret"
        )
    return None


def generate_secret(length: int = GENERATED_LENGTH) -> str:
    """A random secret from an unambiguous alphabet (about 117 bits at 20 characters)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))
