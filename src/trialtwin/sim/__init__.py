"""trialtwin.sim (see docs/architecture.md for what belongs here)."""
