"""The error the SDP codec raises."""

from __future__ import annotations


class SdpError(ValueError):
    """An SDP body is malformed; the message names the line and the fault.

    A SIP element answers an offer it cannot parse with 488 Not Acceptable Here
    (RFC 3261 §13.3.1.3) or 400 for a malformed body.
    """
