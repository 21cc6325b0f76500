"""MuJoCo Warp backend: one batched Data of `nworld = num_envs` on a Warp device.

On CUDA the substeps of one env step are captured once in a CUDA graph and
replayed on torch's current stream, so torch and Warp work stay ordered
without host synchronisation. On Warp's CPU device (used by CI to exercise
this code path without a GPU) the kernels are launched directly.

The one Warp launch inside a task's torch step (the kinematics that refresh
body poses after a reset, `refresh_body_states`) is a torch custom op that
declares the arrays it reads and writes, so torch.compile keeps the step's
half in one graph around it (docs/startup.md).
"""

from __future__ import annotations

import itertools
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import mujoco
import numpy as np
import torch

from isaac_rl.utils.compile_cache import use_cache_dir

# Compiled code of every entry point in one root (variables already set, e.g. by cache_dir=, are kept):
# Warp reads its cache path when it initialises, Inductor and Triton theirs when they first compile.
use_cache_dir()

import warp as wp  # noqa: E402

# Before mujoco_warp initialises Warp: no banner or per-module log lines.
wp.config.quiet = True
wp.config.log_level = wp.LOG_WARNING

import mujoco_warp as mjw  # noqa: E402

from isaac_rl.sim.capacity import Capacity
from isaac_rl.sim.kernel_loading import compile_launched_modules
from isaac_rl.sim.model import STATE_FIELDS
from isaac_rl.utils.graph_capture import no_collection_while_capturing
from isaac_rl.utils.startup_timer import mark

# Overflow bits that mean dropped contacts or constraints. Solver iteration
# limits are not errors: the solver returns its best iterate. Nor is HFIELD: a
# geom resting on more than MJ_MAXCONPAIR heightfield prisms (a fallen base
# on a 10 cm grid) keeps its contacts from the first ones found, which is what
# MuJoCo C does silently.
CAPACITY_OVERFLOW_BITS = int(
    mjw.OverflowType.ALL & ~(mjw.OverflowType.ITERATIONS | mjw.OverflowType.LS_ITERATIONS | mjw.OverflowType.HFIELD)
)

# What a reset clears per world, beside qpos/qvel which it sets: the inputs, and the contact forces of the state
# before it (cfrc_ext, which MuJoCo C's reset leaves at 0 too: no physics step has run since). Kept, they made a
# task that ends an episode on a body's contact end the next episode at its first step (AnymalTerrain: a fall
# reset the robot twice, and the second reset demoted it again).
CLEARED_ON_RESET = ("ctrl", "act", "qacc_warmstart", "qfrc_applied", "xfrc_applied", "cfrc_ext")

# What mjw.kinematics reads (Data, then the Model's float arrays: events may write those per env) and writes.
KINEMATICS_DATA_READS = ("qpos", "mocap_pos", "mocap_quat")
KINEMATICS_MODEL_READS = (
    "qpos0", "body_pos", "body_quat", "jnt_pos", "jnt_axis", "body_ipos", "body_iquat", "geom_pos", "geom_quat", "site_pos", "site_quat",
)  # fmt: skip
KINEMATICS_WRITES = ("xpos", "xquat", "xanchor", "xaxis", "xmat", "xipos", "ximat", "geom_xpos", "geom_xmat", "site_xpos", "site_xmat")


class WarpBackend:
    def __init__(
        self,
        model: mujoco.MjModel,
        num_envs: int,
        device: str,
        substeps: int,
        capacity: Capacity,
        contact_forces: bool,
        refresh_body_states: bool,
    ) -> None:
        wp.init()
        self.torch_device = torch.device(device)
        self.wp_device = wp.get_device(device)
        self.substeps = substeps
        self.refresh_body_states = refresh_body_states
        self.use_graph = self.wp_device.is_cuda
        with wp.ScopedDevice(self.wp_device):
            self.m = mjw.put_model(model)
            self.m.opt.run_rne_postconstraint = bool(contact_forces)
            self.m.opt.warn_overflow = 0  # we raise instead of printing
            self.d = mjw.make_data(model, nworld=num_envs, nconmax=capacity.nconmax, njmax=capacity.njmax)
        # zero-copy torch views of every Data array, made now: one made inside a compiled step would break its graph
        self._fields = {name: wp.to_torch(array) for name, array in vars(self.d).items() if isinstance(array, wp.array)}
        self.tensors = {name: self._fields[name] for name in STATE_FIELDS}
        self._cleared_on_reset = [self._fields[name] for name in CLEARED_ON_RESET]
        self.overflow = self._fields["overflow"]
        self._kinematics_writes = [self._fields[name] for name in KINEMATICS_WRITES]
        self._bind_kinematics_reads()
        self._op_handle = _register(self)
        self._graph = None
        self._compile()

    def _stream(self):
        """Launch Warp work on torch's current stream, so the two stay ordered."""
        if not self.wp_device.is_cuda:
            return wp.ScopedDevice(self.wp_device)
        if torch.cuda.is_current_stream_capturing():
            # Inside torch_graph_capture: its scoped stream is the one Warp
            # knows to be capturing; a new wrapper of it would not be.
            return nullcontext()
        return wp.ScopedStream(wp.stream_from_torch(torch.cuda.current_stream(self.torch_device)))

    def _substep_kernels(self) -> None:
        for _ in range(self.substeps):
            mjw.step(self.m, self.d)
        if self.refresh_body_states:
            mjw.kinematics(self.m, self.d)

    def _compile(self) -> None:
        """Compile every kernel once (a minute cold, cached after) and capture the step graph."""
        started = time.perf_counter()
        print(
            f"isaac_rl: compiling MuJoCo Warp kernels (about a minute on first use, cached afterwards in "
            f"{wp.config.kernel_cache_dir}; set cache_dir= or ISAAC_RL_CACHE_DIR (Warp alone: warp_cache_dir=, WARP_CACHE_PATH) to move it)...",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        with wp.ScopedDevice(self.wp_device):
            compile_launched_modules(self._first_launches, self.wp_device)
            self._first_launches()
            wp.synchronize_device(self.wp_device)
            if self.use_graph:
                self._record_physics_graph()
        print(f"isaac_rl: kernels ready in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
        mark("warp kernels ready")

    def _record_physics_graph(self) -> None:
        """Record the substeps into the Warp graph `step` replays (again whenever it must hold other arrays)."""
        with no_collection_while_capturing(), wp.ScopedDevice(self.wp_device), wp.ScopedCapture() as capture:
            self._substep_kernels()
        self._graph = capture.graph

    def _first_launches(self) -> None:
        """One step (which launches every kernel the step graph holds), then the initial state's body poses and sensors."""
        self._substep_kernels()
        mjw.reset_data(self.m, self.d)
        mjw.forward(self.m, self.d)

    def step(self) -> None:
        if self._graph is not None and not torch.cuda.is_current_stream_capturing():
            wp.capture_launch(self._graph, stream=wp.stream_from_torch(torch.cuda.current_stream(self.torch_device)))
        else:
            # Inside an outer torch graph capture the kernels join that graph.
            with self._stream():
                self._substep_kernels()

    def field(self, name: str) -> torch.Tensor:
        """A Data array beyond STATE_FIELDS (xfrc_applied, cvel, subtree_com) as a zero-copy torch view.

        The step graph reads and writes these arrays in place, so the views
        stay valid and cost nothing per step.
        """
        if name not in self._fields:
            raise KeyError(f"MuJoCo Warp's Data has no array {name!r}")
        return self._fields[name]

    def model_field(self, name: str) -> torch.Tensor:
        """Model field `name` widened to one row per world, as a zero-copy torch view (isaac_rl/sim/parameters.py).

        The physics graph holds the arrays it was recorded with, so it is recorded again.
        """
        owner = self.m.opt if name == "gravity" else self.m
        shared = getattr(owner, name)
        if shared.shape[0] != self.d.nworld:
            rows = np.repeat(shared.numpy()[:1], self.d.nworld, axis=0)
            setattr(owner, name, wp.array(rows, dtype=shared.dtype, device=self.wp_device))
            if self._graph is not None:
                self._record_physics_graph()
            self._bind_kinematics_reads()
        field = wp.to_torch(getattr(owner, name))
        return field.view(self.d.nworld, -1) if name == "gravity" else field

    def write_state(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """Set qpos/qvel of the masked envs, leaving their controls and applied forces as they are."""
        column = mask[:, None]
        self.tensors["qpos"].copy_(torch.where(column, qpos, self.tensors["qpos"]))
        self.tensors["qvel"].copy_(torch.where(column, qvel, self.tensors["qvel"]))
        if self.refresh_body_states:
            self._refresh_body_states()

    def reset(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        # Torch ops on the shared arrays rather than mjw.reset_data, which
        # rebuilds its Warp kernels on every call (milliseconds each step).
        for field in self._cleared_on_reset:
            field.masked_fill_(mask.view(-1, *([1] * (field.dim() - 1))), 0.0)
        self.write_state(mask, qpos, qvel)

    def _refresh_body_states(self) -> None:
        """MuJoCo Warp's kinematics, as the custom op `isaac_rl::mujoco_warp_kinematics` (traced whole by torch.compile)."""
        torch.ops.isaac_rl.mujoco_warp_kinematics(self._op_handle, self._kinematics_reads, self._kinematics_writes)

    def _bind_kinematics_reads(self) -> None:
        """Torch views of what the kinematics read; again whenever `model_field` replaces a Model array."""
        self._kinematics_reads = [self._fields[name] for name in KINEMATICS_DATA_READS]
        self._kinematics_reads += [wp.to_torch(getattr(self.m, name)) for name in KINEMATICS_MODEL_READS]

    def _kinematics(self, reads: list[torch.Tensor], writes: list[torch.Tensor]) -> None:
        """mjw.kinematics on the tensors given, which are this backend's arrays unless torch.compile passed others.

        A compiled graph hands the op the current value of an array the graph
        wrote (qpos after a reset) in a buffer of its own, and writes that
        buffer back into the array only at the graph's end; it may likewise
        give the op a scratch buffer to write. Such a tensor is bound in place
        of the array for this launch, so the kernels read and write exactly
        what the op was given.
        """
        owners = [(self.d, name) for name in KINEMATICS_DATA_READS] + [(self.m, name) for name in KINEMATICS_MODEL_READS]
        owners += [(self.d, name) for name in KINEMATICS_WRITES]
        mine = self._kinematics_reads + self._kinematics_writes
        swapped = []
        for (owner, name), given, own in zip(owners, reads + writes, mine):
            if given.numel() and (given.data_ptr() != own.data_ptr() or given.stride() != own.stride()):
                array = getattr(owner, name)
                swapped.append((owner, name, array))
                setattr(owner, name, wp.from_torch(given, dtype=array.dtype))
        try:
            with self._stream():
                mjw.kinematics(self.m, self.d)
        finally:
            for owner, name, array in swapped:
                setattr(owner, name, array)

    @contextmanager
    def torch_graph_capture(self, graph: torch.cuda.CUDAGraph, stream: torch.cuda.Stream) -> Iterator[None]:
        """Capture torch and Warp work into one torch CUDA graph on `stream`.

        Warp must see the torch stream as its own before torch starts
        capturing, and must be told that the capture is external.
        """
        wp_stream = wp.stream_from_torch(stream)
        with no_collection_while_capturing(), wp.ScopedStream(wp_stream), torch.cuda.graph(graph, stream=stream):
            wp.capture_begin(stream=wp_stream, external=True)
            try:
                yield
            finally:
                wp.capture_end(stream=wp_stream)

    def capacity_overflow(self) -> torch.Tensor:
        """(num_envs,) int bitmask of overflows since the sim was built.

        MuJoCo Warp ORs these bits in and only `reset_data` clears them, which
        this backend runs at build time alone, so they are sticky as they are.
        """
        return self.overflow & CAPACITY_OVERFLOW_BITS


# -- MuJoCo Warp's kinematics as a torch custom op ------------------------------------
# The op receives a backend by its number here: an int is a constant to torch.compile, a Python object would
# not be. Weak references: a task that is dropped frees its MuJoCo Warp arrays.
_BACKENDS: weakref.WeakValueDictionary[int, WarpBackend] = weakref.WeakValueDictionary()
_NUMBERS = itertools.count()


def _register(backend: WarpBackend) -> int:
    number = next(_NUMBERS)
    _BACKENDS[number] = backend
    return number


@torch.library.custom_op("isaac_rl::mujoco_warp_kinematics", mutates_args=("writes",))
def _kinematics_op(backend: int, reads: list[torch.Tensor], writes: list[torch.Tensor]) -> None:
    """Body, geom and site poses from qpos (`KINEMATICS_*` name the arrays `reads` and `writes` hold, in order)."""
    _BACKENDS[backend]._kinematics(reads, writes)


@_kinematics_op.register_fake
def _(backend: int, reads: list[torch.Tensor], writes: list[torch.Tensor]) -> None:
    return None
