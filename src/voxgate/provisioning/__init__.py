"""Phone provisioning over HTTPS and the installer password (AUTH-3, first part of PROV-2).

Phones fetch ``https://<edge>:<port>/…/<MAC>.cfg`` (or a vendor's variant, see
:mod:`voxgate.provisioning.paths`) when they boot.  With an installer password set, the
server answers ``401`` with a Basic challenge, the phone asks the installer, and the right
password enables the device and hands it a minimal configuration
(:mod:`voxgate.provisioning.phoneconfig`).  :mod:`voxgate.provisioning.server` is the
aiohttp server behind the node's source gate.
"""
