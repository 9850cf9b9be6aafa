"""Use cases shared by the CLI and the web UI (one service layer, DESIGN.md)."""
