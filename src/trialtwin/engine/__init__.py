"""trialtwin.engine (see docs/architecture.md for what belongs here)."""
