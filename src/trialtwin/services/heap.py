"""Garbage-collector policy of a long-running service process: freeze the heap it starts with.

CPython's cyclic collector walks every tracked object in a full (generation-2) collection. A service process
holds a large, long-lived heap from the moment it starts (modules, the SQLAlchemy mapper and table metadata,
the protocol, the FastAPI routes and their pydantic models: about 170,000 objects), and every full collection
walks it again although none of it ever becomes garbage. Measured with ``benchmarks/service.py`` on
PostgreSQL (32 clients, 9,600 randomizations, this 2-core machine): each full collection stopped every thread
for 60-100 ms, and the four that came during the run made the p99 latency 111 ms instead of 66 ms.

:func:`freeze_startup_heap` collects once and then moves every object alive at that moment into the permanent
generation (:func:`gc.freeze`, Python docs "gc — Garbage Collector interface"), so later full collections
walk only what was allocated since: 5-8 ms each in the same run. Reference counting still frees frozen
objects; only a reference cycle among them that became garbage after the freeze would stay, so it is called
once, after start-up, in a process that serves until it ends (``trialtwin serve``; Settings.freeze_heap),
never in a library call or in tests that build many apps.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect garbage once, then freeze every object alive now; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
