"""The edge: the border gateway remote devices talk to (EDGE, AUTH, NET)."""
