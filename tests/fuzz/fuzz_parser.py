"""Coverage-guided fuzz target (atheris) for the SIP and SDP parsers.

Invariant (h11's): any input either parses or raises the parser's own error;
anything else is a crash.  A message that parses must also serialize and
parse again to the same headers.  Run by ./test for a bounded time:

    python tests/fuzz/fuzz_parser.py -max_total_time=30
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from voxgate.sdp.codec import parse_sdp, serialize_sdp
    from voxgate.sdp.errors import SdpError
    from voxgate.sip.errors import ParseError
    from voxgate.sip.parser import StreamFramer, parse_message


def test_one_input(data: bytes) -> None:
    """Feed ``data`` as a datagram and as a stream, whole and split; a body goes to the
    SDP parser."""
    try:
        message = parse_message(data)
        message.check()
    except ParseError:
        pass
    else:
        try:
            description = parse_sdp(message.body)
        except SdpError:
            pass
        else:
            assert parse_sdp(serialize_sdp(description)) == description, "SDP round trip"
        again = parse_message(message.to_bytes())
        assert list(again.headers) == list(message.headers), "headers changed on round trip"
        assert again.body == message.body, "body changed on round trip"
    framer = StreamFramer()
    half = len(data) // 2
    try:
        for chunk in (data[:half], data[half:]):
            framer.feed(chunk)
            while (frame := framer.next_frame()) is not None:
                if isinstance(frame, bytes):
                    try:
                        parse_message(frame, stream=True).check()
                    except ParseError:
                        pass
    except ParseError:
        pass


def main() -> None:
    """Entry point: atheris reads libFuzzer flags from argv.

    Unless a corpus directory is given, the run starts from a scratch copy of
    the torture corpus (tests/corpus) with the SIP dictionary beside this file.
    """
    argv = list(sys.argv)
    here = Path(__file__).resolve().parent
    if not any(arg.startswith("-dict=") for arg in argv):
        argv.append(f"-dict={here / 'sip.dict'}")
    if all(arg.startswith("-") for arg in argv[1:]):
        scratch = Path(tempfile.mkdtemp(prefix="voxgate-fuzz-"))
        for seed in (here.parent / "corpus").rglob("*.sip"):
            shutil.copy(seed, scratch / f"{seed.parent.name}-{seed.name}")
        argv.append(str(scratch))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
