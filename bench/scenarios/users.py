"""Bench users: extension numbers with secrets, in every file format the PBX benchmark needs.

Secrets are derived from the number and a seed (HMAC-SHA256, 20 characters from an
unambiguous alphabet, so they pass voxgate's strong-secret rule), so voxgate and
Kamailio are loaded with the same users and SIPp signs with the same secrets.

    python bench/scenarios/users.py --first 1000 --count 1000 --callees 1 --out DIR

writes into DIR:
  extensions.csv          voxgate ext import (number,display_name,secret,enabled,max_contacts)
  register.csv            SIPp -inf for register_auth.xml (user;[authentication ...];contact)
  callees.csv             SIPp -inf for register_uas.xml (the callee numbers)
  calls-<callee>.csv      SIPp -inf for call_uac_auth.xml (caller;[authentication ...];callee)
  kamailio-db/{version,htable}   db_text tables for bench/kamailio/kamailio.cfg (HA1 values)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from pathlib import Path

#: No 0/O, 1/l/I (as voxgate's generated secrets); no ';' or ':' (SIPp and db_text separators).
ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
SECRET_LENGTH = 20
DEFAULT_SEED = "voxgate-bench"
DEFAULT_REALM = "voxgate"


def secret_for(number: str, seed: str = DEFAULT_SEED) -> str:
    """The bench secret of extension ``number``: same number and seed, same secret."""
    digest = hmac.new(seed.encode(), number.encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest, "big")
    chars = []
    for _ in range(SECRET_LENGTH):
        value, index = divmod(value, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def ha1(number: str, realm: str, secret: str) -> str:
    """MD5(username:realm:password), RFC 2617 §3.2.2.2."""
    return hashlib.md5(f"{number}:{realm}:{secret}".encode()).hexdigest()


def numbers(first: int, count: int) -> list[str]:
    return [str(first + i) for i in range(count)]


def auth_keyword(number: str, seed: str = DEFAULT_SEED) -> str:
    """The whole SIPp keyword: SIPp 3.6 takes no CSV field inside [authentication]."""
    return f"[authentication username={number} password={secret_for(number, seed)}]"


def write_extensions_csv(path: Path, extensions: Iterable[str], seed: str = DEFAULT_SEED) -> Path:
    """The CSV that `voxgate ext import` reads."""
    rows = "".join(f"{n},Bench {n},{secret_for(n, seed)},true,\n" for n in extensions)
    path.write_text("number,display_name,secret,enabled,max_contacts\n" + rows)
    return path


def write_injection(path: Path, rows: Iterable[Sequence[str]]) -> Path:
    """A SIPp -inf file, read in order (one row per call, fields separated by ';')."""
    path.write_text("SEQUENTIAL\n" + "".join(";".join(row) + "\n" for row in rows))
    return path


def write_register_inf(path: Path, extensions: Iterable[str], contact: str,
                       seed: str = DEFAULT_SEED) -> Path:  # fmt: skip
    """register_auth.xml rows: each extension registers ``contact`` (host:port)."""
    return write_injection(path, ((n, auth_keyword(n, seed), contact) for n in extensions))


def write_callee_inf(path: Path, callees: Iterable[str], seed: str = DEFAULT_SEED) -> Path:
    """register_uas.xml rows (its Contact is the SIPp process's own address)."""
    return write_injection(path, ((n, auth_keyword(n, seed), "-") for n in callees))


def write_calls_inf(path: Path, callers: Iterable[str], callee: str,
                    seed: str = DEFAULT_SEED) -> Path:  # fmt: skip
    """call_uac_auth.xml rows: each caller calls ``callee``."""
    return write_injection(path, ((n, auth_keyword(n, seed), callee) for n in callers))


def write_kamailio_db(directory: Path, extensions: Iterable[str], realm: str = DEFAULT_REALM,
                      seed: str = DEFAULT_SEED) -> Path:  # fmt: skip
    """db_text tables ``version`` and ``htable`` (key = number, value = HA1) for kamailio.cfg."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "version").write_text(
        "id(int,auto) table_name(string) table_version(int) \n0:htable:2\n"
    )
    rows = "".join(
        f"{i}:{n}:0:0:{ha1(n, realm, secret_for(n, seed))}:0\n"
        for i, n in enumerate(extensions, start=1)
    )
    (directory / "htable").write_text(
        "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) "
        "expires(int) \n" + rows
    )
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=1000, help="first extension number")
    parser.add_argument("--count", type=int, default=1000, help="registering/calling users")
    parser.add_argument("--callees", type=int, default=1, help="callees, numbered after the users")
    parser.add_argument("--contact", default="127.0.0.1:5999", help="Contact host:port to register")
    parser.add_argument("--realm", default=DEFAULT_REALM)
    parser.add_argument("--seed", default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    users = numbers(args.first, args.count)
    callees = numbers(args.first + args.count, args.callees)
    write_extensions_csv(args.out / "extensions.csv", [*users, *callees], args.seed)
    write_register_inf(args.out / "register.csv", users, args.contact, args.seed)
    write_callee_inf(args.out / "callees.csv", callees, args.seed)
    for callee in callees:
        write_calls_inf(args.out / f"calls-{callee}.csv", users, callee, args.seed)
    write_kamailio_db(args.out / "kamailio-db", [*users, *callees], args.realm, args.seed)
    print(f"{len(users)} users, {len(callees)} callee(s) written to {args.out}")


if __name__ == "__main__":
    main()
