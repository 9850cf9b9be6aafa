"""The built-in media relay: a pure planner (SDP offer/answer → stream plans) and a forwarder
(sockets, SRTP, latching, counters) that may run in several worker processes."""
