"""Pure policy: decisions over immutable snapshots (netblocks, throttles, admission)."""
