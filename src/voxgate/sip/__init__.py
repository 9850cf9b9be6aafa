"""voxgate.sip: the sans-I/O SIP core (compiled with mypyc when built: voxgate.accel)."""

from voxgate import accel as _accel

_accel.install("sip", __path__)
