"""trialtwin.store (see docs/architecture.md for what belongs here)."""
