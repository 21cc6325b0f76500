"""Warp modules compiled on threads before the first step: found without launching, none missed."""

import pytest
import torch
import warp as wp
from conftest import TEST_ASSETS

from isaac_rl import ASSET_ROOT
from isaac_rl.sim import Simulation, warp_backend
from isaac_rl.sim.kernel_loading import compile_launched_modules

CPU = "cpu"


def _make_adder(amount: float):
    """A kernel made at call time, as MuJoCo Warp's kernel factories make them: its module exists only after the call."""

    @wp.kernel(module="unique")
    def add(values: wp.array(dtype=float)):
        values[wp.tid()] += amount

    return add


def test_the_dry_run_records_and_compiles_kernels_without_launching_them():
    values = wp.zeros(4, dtype=float, device=CPU)
    condition = wp.zeros(1, dtype=int, device=CPU)  # a loop that runs no iteration when it runs for real
    made = {}

    def launches():
        made["before"] = _make_adder(1.0)
        wp.launch(made["before"], dim=4, inputs=[values])
        made["in_loop"] = _make_adder(2.0)
        wp.capture_while(condition, lambda: wp.launch(made["in_loop"], dim=4, inputs=[values]))

    loaded = compile_launched_modules(launches, wp.get_device(CPU), max_workers=2)

    assert {module for module, _ in loaded} == {made["before"].module, made["in_loop"].module}
    assert not values.numpy().any(), "the dry run launched a kernel"
    context = wp.get_device(CPU).context
    for module, block_dim in loaded:
        assert (context, block_dim) in module.execs
    # the functions of wp restored: the loop now reads its condition (0) and the kernel runs
    launches()
    assert (values.numpy() == 1.0).all()


def test_a_failing_dry_run_falls_back_to_compiling_on_first_launch(capsys):
    def launches():
        raise ValueError("no model")

    assert compile_launched_modules(launches, wp.get_device(CPU)) == []
    assert "compiling them one by one" in capsys.readouterr().err
    assert wp.launch is not None and wp.capture_while.__module__.startswith("warp")


MODELS = {"boxes": TEST_ASSETS / "falling_boxes.xml", "ant": ASSET_ROOT / "mjcf" / "ant.xml"}
DEVICES = ["cpu", pytest.param("cuda:0", marks=pytest.mark.gpu)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", MODELS)
def test_the_first_step_compiles_nothing_the_dry_run_missed(model, device, monkeypatch):
    """Every module the backend's first launches load (contacts and the solver included) was listed by the dry run."""
    context = wp.get_device(device).context

    def loaded_variants() -> set:
        return {(id(m), key[1]) for m in wp._src.context.user_modules.values() for key in m.execs if key[0] == context}

    listed = []

    def listing(launches, device, max_workers=None):
        listed.extend(compile_launched_modules(launches, device, max_workers))
        return listed

    monkeypatch.setattr(warp_backend, "compile_launched_modules", listing)
    before = loaded_variants()
    sim = Simulation(str(MODELS[model]), num_envs=2, device=device, substeps=2, backend="warp")
    sim.step()
    new = loaded_variants() - before
    assert new <= {(id(module), block_dim) for module, block_dim in listed}
    assert torch.isfinite(sim.qpos).all()
