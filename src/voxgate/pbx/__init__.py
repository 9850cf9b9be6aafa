"""The embedded call control: registrar, location service, calls between extensions.

Its pure modules are compiled with mypyc when built (:mod:`voxgate.accel`)."""

from voxgate import accel as _accel

_accel.install("pbx", __path__)
