"""The ``trialtwin`` command (typer + rich). May import every other layer."""
