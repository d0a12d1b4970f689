"""trialtwin: run a randomized oncology trial end to end, as its digital twin and for real.

Layers (see docs/architecture.md): ``protocol`` (what the trial is, as data), ``engine`` (pure rules),
``sim`` / ``store`` + ``services`` + ``web`` (the twin and the real service), ``analysis`` and ``report``,
and ``cli`` on top.
"""

__version__ = "0.1.0"
