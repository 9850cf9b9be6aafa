"""Fixtures of the real-peer tests; the helpers live in peers.py and netns.py."""

from netns import netns
from peers import node, tls_bridge

__all__ = ["netns", "node", "tls_bridge"]
