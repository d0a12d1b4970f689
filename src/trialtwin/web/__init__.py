"""trialtwin.web (see docs/architecture.md for what belongs here)."""
