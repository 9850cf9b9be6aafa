"""Fixtures of the real-peer tests; the helpers live in peers.py."""

from peers import node, tls_bridge

__all__ = ["node", "tls_bridge"]
