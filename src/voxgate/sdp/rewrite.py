"""Pure rewrites of a description, for the edge's media relay (addresses, ports, keys).

Each function returns a new :class:`SessionDescription`; nothing is changed in place.
"""

from __future__ import annotations

from dataclasses import replace

from voxgate.sdp.model import Attribute, Connection, Crypto, MediaDescription, SessionDescription


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def set_connection(
    sd: SessionDescription, address: str, *, media: int | None = None
) -> SessionDescription:
    """Point ``c=`` at ``address``: session level (and every media-level c=), or one section."""
    conn = Connection("IN", _addrtype(address), address)
    if media is not None:
        return _replace_media(sd, media, replace(sd.media[media], connection=conn))
    sections = tuple(
        replace(m, connection=conn) if m.connection is not None else m for m in sd.media
    )
    return replace(sd, connection=conn, media=sections)


def set_port(
    sd: SessionDescription, media: int, port: int, *, rtcp_port: int | None = None
) -> SessionDescription:
    """Set the port of media section ``media`` and, if it has ``a=rtcp``, the RTCP port."""
    section = sd.media[media]
    attributes = section.attributes
    if rtcp_port is not None:
        attributes = tuple(
            Attribute("rtcp", _rtcp_value(a.value or "", rtcp_port)) if a.name == "rtcp" else a
            for a in attributes
        )
    return _replace_media(sd, media, replace(section, port=port, attributes=attributes))


def _rtcp_value(value: str, port: int) -> str:
    parts = value.split(" ")
    return " ".join([str(port), *parts[1:]])


def set_crypto(sd: SessionDescription, media: int, cryptos: list[Crypto]) -> SessionDescription:
    """Replace every ``a=crypto`` of a section with ``cryptos`` (where the first one stood)."""
    return replace_attributes(sd, media, "crypto", [Attribute("crypto", str(c)) for c in cryptos])


def replace_attributes(
    sd: SessionDescription, media: int, name: str, new: list[Attribute]
) -> SessionDescription:
    """Remove attributes ``name`` from a section and put ``new`` where the first one was
    (or at the end when there was none)."""
    section = sd.media[media]
    out: list[Attribute] = []
    placed = False
    for attr in section.attributes:
        if attr.name == name:
            if not placed:
                out.extend(new)
                placed = True
            continue
        out.append(attr)
    if not placed:
        out.extend(new)
    return _replace_media(sd, media, replace(section, attributes=tuple(out)))


def remove_attributes(sd: SessionDescription, *names: str) -> SessionDescription:
    """Remove attributes by name at session level and in every section."""
    sections = tuple(
        replace(m, attributes=tuple(a for a in m.attributes if a.name not in names))
        for m in sd.media
    )
    session = tuple(a for a in sd.attributes if a.name not in names)
    return replace(sd, attributes=session, media=sections)


def add_attribute(sd: SessionDescription, media: int, attribute: Attribute) -> SessionDescription:
    """Append an attribute to a section."""
    section = sd.media[media]
    return _replace_media(sd, media, replace(section, attributes=(*section.attributes, attribute)))


def bump_version(sd: SessionDescription) -> SessionDescription:
    """Increment o= sess-version, as a changed offer or answer must (RFC 3264 §8)."""
    version = sd.origin.sess_version
    bumped = str(int(version) + 1) if version.isdigit() else "1"
    return replace(sd, origin=replace(sd.origin, sess_version=bumped))


def _replace_media(
    sd: SessionDescription, index: int, section: MediaDescription
) -> SessionDescription:
    media = list(sd.media)
    media[index] = section
    return replace(sd, media=tuple(media))
