"""trialtwin.services (see docs/architecture.md for what belongs here)."""
