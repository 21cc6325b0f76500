"""The garbage collector is kept out of CUDA graph captures (isaac_rl/utils/graph_capture.py)."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from isaac_rl.utils.graph_capture import no_collection_while_capturing


class _Owner:
    """Stands for an env or agent that owns a CUDA graph and sits in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


def test_an_object_in_a_cycle_is_not_freed_inside_the_block_and_is_after_it():
    thresholds = gc.get_threshold()
    try:
        with no_collection_while_capturing():
            owner = _Owner()
            alive = weakref.ref(owner)
            del owner  # garbage now: only the collector can free it
            gc.set_threshold(1, 1, 1)  # enabled, the collector would run at the next allocation
            garbage = [[index] for index in range(10_000)]  # the allocations a capture's Python code makes
            assert alive() is not None
        del garbage
        gc.collect()
        assert alive() is None
    finally:
        gc.set_threshold(*thresholds)


@pytest.mark.parametrize("enabled_before", [True, False])
def test_the_collector_is_left_as_it_was_also_after_an_error(enabled_before):
    was = gc.isenabled()
    (gc.enable if enabled_before else gc.disable)()
    try:
        with pytest.raises(RuntimeError), no_collection_while_capturing():
            assert not gc.isenabled()
            raise RuntimeError("capture failed")
        assert gc.isenabled() == enabled_before
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.gpu
def test_a_dropped_envs_graph_is_not_freed_inside_the_next_envs_capture():
    """Seen on an H200: 14 earlier envs' step graphs freed by a collection inside a later env's capture invalidated
    it, and the failed capture broke every CUDA graph after it in that process."""
    from test_step_capture import make_task

    first = make_task("Cartpole", compile_step=False, num_envs=64)
    first.reset()
    for _ in range(2):  # the warm-up step, then the capture
        first.step(torch.zeros((64, first.num_actions), device="cuda:0"))
    assert first._step_graph is not None
    first.cycle = first  # only the collector frees it, and its graphs with it
    del first
    second = make_task("Cartpole", compile_step=False, num_envs=64)
    second.reset()
    second.step(torch.zeros((64, second.num_actions), device="cuda:0"))  # warm-up
    thresholds = gc.get_threshold()
    gc.set_threshold(1000, 1, 1)  # a full collection every thousand allocations: one falls inside the capture
    try:
        obs, _, _, _ = second.step(torch.zeros((64, second.num_actions), device="cuda:0"))
    finally:
        gc.set_threshold(*thresholds)
    assert second._step_graph is not None
    for _ in range(10):
        obs, _, _, _ = second.step(2 * torch.rand((64, second.num_actions), device="cuda:0") - 1)
    assert torch.isfinite(obs["obs"]).all()
