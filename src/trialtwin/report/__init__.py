"""trialtwin.report (see docs/architecture.md for what belongs here)."""
