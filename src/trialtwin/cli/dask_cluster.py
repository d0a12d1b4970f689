"""``--dask local|tcp://HOST:PORT``: a Dask distributed client for the commands that scale out (simulate, design).

``local`` starts a ``LocalCluster`` of ``workers`` single-threaded worker processes on this machine and closes it
afterwards; ``tcp://…`` connects to a running scheduler (closing only the client). Work keeps its own seeds
(``SeedSequence.spawn`` per replicate or chunk), so results equal the single-process run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from trialtwin.protocol.errors import TrialtwinError

if TYPE_CHECKING:
    from distributed import Client


def check_dask_address(address: str) -> None:
    """Raise a ``TrialtwinError`` naming ``--dask`` unless the address is ``local`` or ``tcp://…``."""
    if address != "local" and not address.startswith("tcp://"):
        raise TrialtwinError(f"--dask {address!r}: use 'local' or a scheduler address like tcp://127.0.0.1:8786")


@contextmanager
def dask_client(address: str, workers: int, *, processes: bool = True) -> Iterator[Client]:
    """A connected ``distributed.Client`` for ``address`` (module docstring); ``processes=False`` runs a local
    cluster's workers as threads of this process (tests)."""
    check_dask_address(address)
    from distributed import Client, LocalCluster

    if address == "local":
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None
        )
        client = Client(cluster)  # type: ignore[no-untyped-call]
    else:
        cluster = None
        try:
            client = Client(address, timeout="10s")  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise TrialtwinError(f"--dask {address}: cannot reach the scheduler ({exc})") from None
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]
        if cluster is not None:
            cluster.close()
