"""voxgate: a teleworker border gateway for SIP phones, softphones and browsers."""

__version__ = "0.1.0"
