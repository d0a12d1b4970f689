"""Scale-out: the same replicates on a Dask cluster as in one process (per-chunk SeedSequence.spawn)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from distributed import Client, LocalCluster

from trialtwin.design.batch import BatchDesign, BatchResult, simulate_batch
from trialtwin.protocol import Protocol


def _arrays(result: BatchResult) -> dict[str, np.ndarray]:
    return {
        f.name: getattr(result, f.name)
        for f in dataclasses.fields(result)
        if isinstance(getattr(result, f.name), np.ndarray)
    }


@pytest.mark.parametrize("observation", ["continuous", "scans"])
def test_dask_results_are_bit_identical_to_one_and_two_workers(ever: Protocol, observation: str) -> None:
    design = BatchDesign.from_protocol(
        ever, hr=0.7, control_median_months=4.2, events=(116, 232), observation=observation, dropout_per_month=0.01
    )
    kwargs = {"chunk_size": 250}
    one = simulate_batch(design, 1_500, rng=np.random.default_rng(11), workers=1, **kwargs)
    two = simulate_batch(design, 1_500, rng=np.random.default_rng(11), workers=2, **kwargs)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        on_dask = simulate_batch(
            design, 1_500, rng=np.random.default_rng(11), workers=2, executor=client.get_executor(), **kwargs
        )
    reference = _arrays(one)
    assert len(reference) == 13  # z, log HR, SE, medians, month, events (3), subjects, reached, converged, tied
    for name, values in reference.items():
        np.testing.assert_array_equal(values, getattr(two, name), err_msg=name)
        np.testing.assert_array_equal(values, getattr(on_dask, name), err_msg=name)
    assert not np.array_equal(one.z, simulate_batch(design, 1_500, rng=12, **kwargs).z)  # the seed matters
