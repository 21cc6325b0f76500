"""Compile the Warp modules a function will launch on parallel threads, before it launches them.

Warp compiles a module when a kernel of it is first launched, one module at
a time: a fresh machine spends a minute (Ant) to two (AnymalTerrain) in
MuJoCo Warp's first step, almost all of it in NVRTC, on one core. Many of
those modules are made for the model at call time (MuJoCo Warp's kernel
factories), so they cannot be listed before the step runs once. Here the
step runs once with launching switched off: every kernel it would launch is
created and its module recorded, and nothing runs on the device. The
recorded modules are then compiled with `warp.force_load` on a thread pool
(NVRTC and Warp's CPU compiler release the GIL), and the real first step
finds them loaded. A module the dry run missed still compiles on its first
launch, as before; a cached module is only loaded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import warp as wp
from warp._src import context as warp_context

# Beyond this many threads the largest module (~15 s of NVRTC) bounds the time anyway, and each compiler
# thread can hold a GB or more; warp.config.load_module_max_workers, when set, decides instead.
MAX_COMPILE_THREADS = 8


def compile_launched_modules(
    launches: Callable[[], None], device: wp.Device, max_workers: int | None = None
) -> list[tuple[warp_context.Module, int]]:
    """Compile, on `max_workers` threads, every module `launches` would launch.

    `launches` runs once with no kernel launched, so it must not depend on
    what its kernels compute (MuJoCo Warp's step does not: it is captured in
    a CUDA graph). Returns the (module, block size) variants it loaded.
    """
    recorded: dict[tuple[int, int], tuple[warp_context.Module, int]] = {}
    try:
        with _launches_recorded(recorded):
            launches()
    except Exception as error:  # noqa: BLE001 (the real first step compiles what is missing and raises real errors)
        print(f"isaac_rl: listing the Warp modules to compile failed ({type(error).__name__}: {error}); compiling them one by one", file=sys.stderr)
    by_block_dim: dict[int, list[warp_context.Module]] = {}
    for module, block_dim in recorded.values():
        by_block_dim.setdefault(block_dim, []).append(module)
    if max_workers is None:
        max_workers = wp.config.load_module_max_workers or min(len(os.sched_getaffinity(0)), MAX_COMPILE_THREADS)
    for block_dim, modules in by_block_dim.items():
        wp.force_load(device=device, modules=modules, block_dim=block_dim, max_workers=max_workers)
    return list(recorded.values())


@contextmanager
def _launches_recorded(recorded: dict[tuple[int, int], tuple[warp_context.Module, int]]) -> Iterator[None]:
    """Within: `wp.launch` records its kernel's module and block size and launches nothing.

    `Module.load` returning None is how `wp.launch` skips a kernel it cannot
    run. Conditional graph nodes run their bodies once (a loop's count is a
    device value nobody computed), and occupancy queries, which need a loaded
    module, answer a default.
    """
    real_load, real_while, real_if, real_block_size = (
        warp_context.Module.load, wp.capture_while, wp.capture_if, wp.get_suggested_block_size,
    )  # fmt: skip

    def record(module: warp_context.Module, device, block_dim: int | None = None, *args, **kwargs) -> None:
        dim = int(block_dim) if block_dim is not None else module.options["block_dim"]
        recorded[(id(module), dim)] = (module, dim)

    def run_body_once(condition, while_body, stream=None, **kwargs) -> None:
        while_body(**kwargs)

    def run_both_branches(condition, on_true=None, on_false=None, stream=None, **kwargs) -> None:
        for branch in (on_true, on_false):
            if callable(branch):
                branch(**kwargs)

    def default_block_size(kernel, device=None) -> tuple[int, int]:
        if wp.get_device(device).is_cpu:
            return 1, 1
        record(kernel.module, device)
        return 256, 1

    warp_context.Module.load = record
    wp.capture_while, wp.capture_if, wp.get_suggested_block_size = run_body_once, run_both_branches, default_block_size
    try:
        yield
    finally:
        warp_context.Module.load = real_load
        wp.capture_while, wp.capture_if, wp.get_suggested_block_size = real_while, real_if, real_block_size
