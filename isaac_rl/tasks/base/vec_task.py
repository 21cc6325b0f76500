"""`VecTask`: the base class of every task, with IsaacGymEnvs' names and buffers.

A task subclass reads like IsaacGymEnvs' `ant.py`: it fills in its config,
calls `super().__init__`, which calls `create_sim()` and allocates buffers,
then implements actions in (`pre_physics_step`), observations and rewards out
(`compute_observations`, `compute_reward`) and resets (`reset_idx`).

Resets are masks, not index lists: `reset_idx(env_mask)` gets a bool tensor of
shape (num_envs,) and must compute new states for all envs and write them
where the mask is set. That keeps `step()` free of host synchronisation on
CUDA (no `nonzero()`), so the whole step can be captured in a CUDA graph.

VecTask owns the episode: it counts `progress_buf`, ends episodes at
`maxEpisodeLength` (`timeout_buf`, `extras["time_outs"]`), and resets the
envs that are done, zeroing their progress and `reset_buf`. A task's
`compute_reward` says only what terminates (`reset_buf[:] = fallen`), and
its `reset_idx` only writes new states. The order of a step's bookkeeping
(`post_physics_step`) is one of two:
- IsaacGymEnvs' (default): an env done at step t returns its final
  observation at t and is reset at the start of step t+1's bookkeeping:
  reset, `update_state`, observations, reward and terminations;
- legged_gym's (`env.resetInSameStep: True`, or the class attribute
  `reset_in_same_step`): `update_state`, reward and terminations, reset of the
  envs done, `refresh_state` (by default `update_state` again), observations.
  The observation returned with a done flag is then the new episode's first,
  and nothing of the old episode (commands included) leaks into it.
`update_state` is the task's hook for quantities both observations and
rewards read (base-frame velocities, commands steered by heading).
A task ported from IsaacGymEnvs that overrides `post_physics_step` and keeps
its own bookkeeping still works: doing it twice changes nothing.

Tasks with a goal say whether each episode reached it: `self.success_buf`
(bool, (num_envs,)), updated in `compute_reward` and read where the episode
ends (`reset_buf`). The base class hands it out as `extras["successes"]`; the
training log turns it into `Episode/success_rate` and `scripts/evaluate.py`
into a success rate over played episodes.

On CUDA (MuJoCo Warp, `sim.use_cuda_graph`, rl and sim on one device) the
whole step, actions in to observations out, is captured once in a CUDA graph
and replayed: Python and kernel-launch overhead otherwise cost about half of
the physics' throughput. The returned tensors are then the graph's static
buffers, overwritten by the next step: copy what you keep.

Inside that graph the task's torch math (actions in; resets, observations
and rewards out) is still a hundred or so small kernels, each costing a few
microseconds whatever the number of envs. With `sim.compile_step` (default
on, CUDA graph runs only) torch.compile fuses it into a few kernels; the
first step pays for the compilation.

Random draws: compiled, a step draws Inductor's own random numbers (the
same distributions, other numbers); tests that compare it number by number
with the eager step tell Inductor to call aten's random ops instead
(`fallback_random`). The numbers then match only if the draws keep their
order, and Inductor before torch 2.13 reorders them (its
`reorder_for_locality` pass and its scheduler move a draw towards its first
use). So draw each reset's random numbers in one call (`torch.rand((k, n))`,
a row per quantity): no order to keep, and one kernel instead of k.

Events (isaac_rl/tasks/base/events.py): a task's `events()` declares what is
done to envs at start-up, as they reset and at intervals (randomizing any
per-env model parameter, pushes) and the observation and action noise; with
`task.randomize`, IsaacGymEnvs' `randomization_params`
(isaac_rl/tasks/base/randomization.py) add theirs. All inside the graph.

Watching env 0 happens after the step, outside the graph: `headless=False`
opens MuJoCo's viewer, and `capture_video(...)` records clips (scripts/train.py's
`capture_video=True`), framed by the class's `video_camera`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch

from isaac_rl.sim import Simulation, display_problem
from isaac_rl.tasks.base.events import Event, EventManager, Noise
from isaac_rl.tasks.base.observations import ObservationGroup
from isaac_rl.tasks.base.randomization import RandomizationParams
from isaac_rl.utils.startup_timer import mark, report_compile_counters

if TYPE_CHECKING:
    from isaac_rl.sim.video import VideoRecorder


class VecTask:
    # legged_gym's order of a step (see the module docstring); env.resetInSameStep overrides it
    reset_in_same_step: bool = False
    # camera of videos (`capture_video`): MjvCamera fields over the default, which follows a free root
    video_camera: dict[str, Any] = {}

    def __init__(
        self,
        config: dict,
        rl_device: str,
        sim_device: str,
        graphics_device_id: int,
        headless: bool,
        virtual_screen_capture: bool = False,
        force_render: bool = False,
    ) -> None:
        self.cfg = config
        env_cfg = config["env"]
        self.num_envs = _positive_int(env_cfg["numEnvs"], "env.numEnvs (num_envs)")
        self.num_observations = _positive_int(env_cfg["numObservations"], "env.numObservations")
        self.num_states = int(env_cfg.get("numStates", 0))
        self.num_actions = _positive_int(env_cfg["numActions"], "env.numActions")
        self.max_episode_length = _positive_int(env_cfg.get("maxEpisodeLength", 1000), "env.maxEpisodeLength")
        self.control_freq_inv = _positive_int(env_cfg.get("controlFrequencyInv", 1), "env.controlFrequencyInv")
        self.clip_obs = float(env_cfg.get("clipObservations", math.inf))
        self.clip_actions = float(env_cfg.get("clipActions", math.inf))
        self.reset_in_same_step = bool(env_cfg.get("resetInSameStep", type(self).reset_in_same_step))

        self.device = _check_device(sim_device, "sim_device")
        self.rl_device = _check_device(rl_device, "rl_device")
        self.graphics_device_id = graphics_device_id
        self.headless = headless

        self.obs_space = gym.spaces.Box(-np.inf, np.inf, (self.num_observations,), dtype=np.float32)
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (self.num_states,), dtype=np.float32)
        self.act_space = gym.spaces.Box(-1.0, 1.0, (self.num_actions,), dtype=np.float32)

        task_cfg = config.get("task") or {}
        self.randomize = bool(task_cfg.get("randomize", False))
        # checked before the sim is built (which can take a minute on CUDA)
        randomization = RandomizationParams.from_cfg(task_cfg.get("randomization_params") or {}) if self.randomize else None

        self.sim: Simulation = self.create_sim()
        self.build_index_plans()
        mark("sim built")
        self.viewer = None if headless else self._open_viewer()
        self.video_recorder: VideoRecorder | None = None
        self.dt = self.sim.dt * self.control_freq_inv
        self._allocate_buffers()
        # events: before the first step, as per-env parameters must exist when the step graph is recorded
        self.event_manager = EventManager(self, self._declared_events(randomization), self.dt)
        self.event_manager.startup()
        self.use_cuda_graph = (
            bool(config.get("sim", {}).get("use_cuda_graph", True))
            and self.sim.supports_graph_capture
            and self.rl_device == self.device
        )
        self.compile_step = self.use_cuda_graph and bool(config.get("sim", {}).get("compile_step", True))
        if self.compile_step:
            self._compile_step_halves()
        self._step_graph: torch.cuda.CUDAGraph | None = None
        # eager steps before capture: lazy initialisation and compilation must not happen while capturing. The
        # compiled step compiles at its first call only (tests/test_step_capture.py checks it on Warp's CPU
        # device); a second call before capture is kept as a margin, should a guard change on CUDA alone
        self._warm_up_steps_left = 2 if self.compile_step else 1

    def _compile_step_halves(self, backend: str = "inductor") -> None:
        """torch.compile the torch work around the physics (`_apply_actions`, `_finish_step`), with static shapes.

        Called for `sim.compile_step`; tests call it on Warp's CPU device too, where no graph is captured
        (with `backend="aot_eager"` where only tracing matters: graphs, graph breaks, recompilations).
        Each half must trace into one graph from its first call on: whatever the step reads is built
        before it (`build_index_plans`, `extras`' keys), so no guard changes between the first step and the
        second and nothing is compiled again, least of all while the CUDA graph is being captured.
        """
        self._apply_actions = torch.compile(self._apply_actions, dynamic=False, backend=backend)
        self._finish_step = torch.compile(self._finish_step, dynamic=False, backend=backend)

    # -- set-up --------------------------------------------------------------
    def create_sim(self) -> Simulation:
        """Build and return the task's `Simulation` (usually via `make_sim`)."""
        raise NotImplementedError

    def make_sim(self, model_file: str, **kwargs: Any) -> Simulation:
        """A `Simulation` of `model_file` configured from the task's `sim` section.

        `sim.dt` is the time one env step covers per control step, split into
        `sim.substeps` physics steps, as in IsaacGymEnvs.
        """
        sim_cfg = self.cfg.get("sim", {})
        substeps = _positive_int(sim_cfg.get("substeps", 1), "sim.substeps")
        dt = float(sim_cfg.get("dt", 1.0 / 60.0))
        if dt <= 0:
            raise ValueError(f"sim.dt must be > 0 seconds, got {dt}")
        return Simulation(
            model_file,
            num_envs=self.num_envs,
            device=str(self.device),
            substeps=substeps,
            timestep=dt / substeps,
            backend=sim_cfg.get("backend", "auto"),
            nconmax=sim_cfg.get("nconmax"),
            njmax=sim_cfg.get("njmax"),
            **kwargs,
        )

    def build_index_plans(self) -> None:
        """Call, with the same names, each `sim.scene` accessor the step calls (`self.sim.scene.body_pos(FEET)`).

        Called once the sim is built. The scene resolves names into index plans
        on first use (host work: regexes, numpy, branches on the layout); done
        inside the first compiled step, that breaks the step's graph and makes
        the second step compile it again (docs/startup.md).
        """

    def check_floating_robot(self, sim: Simulation, model: str, num_dofs: int) -> None:
        """A clear error unless `model` (as `sim` loaded it) has a free root joint and `num_dofs` hinge joints, one actuator each."""
        info = sim.info
        if not info.has_free_root or info.num_dofs != num_dofs or info.nu != num_dofs:
            raise ValueError(
                f"the {type(self).__name__} task needs a model with a free root joint and {num_dofs} actuated hinge joints; "
                f"{model!r} has {info.num_dofs} dofs and {info.nu} actuators"
            )

    def _allocate_buffers(self) -> None:
        n, dev = self.num_envs, self.device
        self.obs_buf = torch.zeros((n, self.num_observations), device=dev, dtype=torch.float32)
        self.states_buf = torch.zeros((n, self.num_states), device=dev, dtype=torch.float32)
        self.rew_buf = torch.zeros(n, device=dev, dtype=torch.float32)
        self.reset_buf = torch.ones(n, device=dev, dtype=torch.long)
        self.timeout_buf = torch.zeros(n, device=dev, dtype=torch.long)
        self.progress_buf = torch.zeros(n, device=dev, dtype=torch.long)
        # every key the step sets is here before the first step: a key the compiled step added would recompile it
        self.extras: dict[str, Any] = {"time_outs": self.timeout_buf.to(self.rl_device)}
        self.obs_dict: dict[str, torch.Tensor] = {}
        # tasks with a goal replace this with a bool tensor (see the module docstring)
        self.success_buf = None

    @property
    def success_buf(self) -> torch.Tensor | None:
        return self._success_buf

    @success_buf.setter
    def success_buf(self, value: torch.Tensor | None) -> None:
        """A task with a goal sets its bool buffer in `__init__`: `extras["successes"]` is filled then, not by the step."""
        self._success_buf = value
        if value is None:
            self.extras.pop("successes", None)
        else:
            self.extras["successes"] = value.to(self.rl_device)

    def events(self) -> dict[str, Event | Noise]:
        """The task's events and noise by name (isaac_rl/tasks/base/events.py); called once the sim is built."""
        return {}

    def _declared_events(self, randomization: RandomizationParams | None) -> dict[str, Event | Noise]:
        declared = dict(self.events())
        if randomization is not None:
            declared.update(randomization.events(self.sim.scene.actor_names))
        return declared

    # -- the task's part -----------------------------------------------------
    def pre_physics_step(self, actions: torch.Tensor) -> None:
        raise NotImplementedError

    def post_physics_step(self) -> None:
        """The episode's bookkeeping around the task's methods, in the order the module docstring gives."""
        self.progress_buf += 1
        if self.reset_in_same_step:
            self._mark_time_outs()
            self.update_state()
            self.compute_reward()
            done = self._end_episodes()
            self.event_manager.on_reset(done)
            self.reset_envs(done)
            self.reset_buf.copy_(done)  # still this step's done flags, for the learner
            self.refresh_state()
            self.compute_observations()
        else:
            self.reset_envs(self.reset_buf.bool())
            self._mark_time_outs()
            self.update_state()
            self.compute_observations()
            self.compute_reward()
            self._end_episodes()

    def reset_envs(self, env_mask: torch.Tensor) -> None:
        """`reset_idx` and the episode's bookkeeping: progress and done flags back to 0 where `env_mask` is set."""
        self.reset_idx(env_mask)
        self.progress_buf.masked_fill_(env_mask, 0)
        self.reset_buf.masked_fill_(env_mask, 0)

    def _mark_time_outs(self) -> None:
        self.timeout_buf.copy_(self.progress_buf >= self.max_episode_length - 1)

    def _end_episodes(self) -> torch.Tensor:
        """Time-outs join the task's terminations in `reset_buf`; returns the done mask."""
        self.reset_buf |= self.timeout_buf
        return self.reset_buf.bool()

    def update_state(self) -> None:
        """Quantities that observations and rewards both read, after physics and resets (see the module docstring)."""

    def refresh_state(self) -> None:
        """In legged_gym's order, after the step's resets: what `update_state` computes, for the observations of
        the envs just reset. By default `update_state` again; a task whose `update_state` also advances a clock
        once per step (commands resampled every N steps) overrides this to leave the clock alone."""
        self.update_state()

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        """Reset the envs where `env_mask` (bool, (num_envs,)) is True: write their new states."""
        raise NotImplementedError

    def compute_observations(self) -> None:
        """Fill `obs_buf` (and `states_buf`) in place: a captured step graph keeps their addresses."""
        raise NotImplementedError

    def compute_reward(self) -> None:
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------
    def step(self, actions: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Apply actions, advance physics, return `(obs_dict, rewards, resets, extras)`.

        Runs without autograd and outside `torch.inference_mode` whatever the caller's mode (rsl_rl steps
        inside inference mode): the compiled halves then keep one set of guards, whichever mode the caller
        steps in, and no inference-mode tensor reaches state that later steps read.
        """
        with torch.inference_mode(False), torch.no_grad():
            return self._step_in_one_mode(actions)

    def _step_in_one_mode(self, actions: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, dict[str, Any]]:
        if not self.use_cuda_graph:
            outputs = self._step(actions)
        elif self._step_graph is None and self._warm_up_steps_left:
            self._warm_up_steps_left -= 1
            outputs = self._warm_up_step(actions)
            mark(f"warm-up step ({self._warm_up_steps_left} left)")
        else:
            if self._step_graph is None:
                self._capture_step(actions)
                mark("step captured")
                report_compile_counters()
            self._graph_actions.copy_(actions)
            self._step_graph.replay()
            outputs = self._graph_outputs
        # outside the graph: both copy env 0 to the host (the recorder without waiting for it)
        if self.viewer is not None:
            self.viewer.update(self.sim.qpos, self.sim.qvel)
        if self.video_recorder is not None:
            self.video_recorder.update(self.sim.qpos)
        return outputs

    def capture_video(self, directory: str | Path, every_steps: int, length: int, name_prefix: str = "rl-video") -> VideoRecorder:
        """Record a clip of env 0, `length` steps long, every `every_steps` steps into `directory`/*.mp4."""
        self.video_recorder = self.sim.video_recorder(
            directory, every_steps, length, fps=1.0 / self.dt, name_prefix=name_prefix, camera=self.video_camera
        )
        return self.video_recorder

    def _open_viewer(self):
        """`headless=False`: MuJoCo's viewer on env 0 where a display is; otherwise one line, and headless."""
        problem = display_problem()
        if problem is not None:
            print(f"headless=False: {problem}; running headless")
            return None
        return self.sim.open_viewer(env_index=0)

    def _capture_step(self, actions: torch.Tensor) -> None:
        """Record `_step` into a CUDA graph. Recording runs no kernels: no env advances.

        Python code inside `_step` runs once, here, not at each replay: task
        steps must be tensor work only.
        """
        self._graph_actions = actions.detach().to(self.device).clone()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        self._step_graph = torch.cuda.CUDAGraph()
        with self.sim.torch_graph_capture(self._step_graph, stream):
            obs_dict, rewards, resets, extras = self._step(self._graph_actions)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        # Own dicts: eager calls (reset) rebind entries of self.obs_dict / self.extras.
        self._graph_outputs = (dict(obs_dict), rewards, resets, dict(extras))

    def _warm_up_step(self, actions: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, dict[str, Any]]:
        try:
            return self._step(actions)
        except Exception as error:
            if not self.compile_step:
                raise
            raise RuntimeError(
                f"torch.compile of the {type(self).__name__} step failed ({type(error).__name__}: {error}); "
                "task.sim.compile_step=False runs the step uncompiled (still in a CUDA graph)"
            ) from error

    def _step(self, actions: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, dict[str, Any]]:
        self._apply_actions(actions)
        for _ in range(self.control_freq_inv):
            self.sim.step()
        return self._finish_step()

    # The torch halves of a step, around the physics (torch.compile fuses each with `sim.compile_step`).
    def _apply_actions(self, actions: torch.Tensor) -> None:
        actions = self.event_manager.noisy_actions(actions.to(self.device))
        self.pre_physics_step(torch.clamp(actions, -self.clip_actions, self.clip_actions))

    def _finish_step(self) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, dict[str, Any]]:
        self.event_manager.on_step()
        if not self.reset_in_same_step:
            # the envs that post_physics_step resets (a ported task's own too) start their episode with the reset events' draws
            self.event_manager.on_reset(self.reset_buf.bool())
        self.post_physics_step()
        if not self.reset_in_same_step:
            # a ported task's own post_physics_step may leave this to the base class, as IsaacGymEnvs' does
            self._mark_time_outs()
        if self.rl_device != self.device:
            # copies for the learner's device; on one device extras hold the buffers themselves, set before the first step
            self.extras["time_outs"] = self.timeout_buf.to(self.rl_device)
            if self.success_buf is not None:
                self.extras["successes"] = self.success_buf.to(self.rl_device)
        return self._observations(), self.rew_buf.to(self.rl_device), self.reset_buf.to(self.rl_device), self.extras

    def reset(self) -> dict[str, torch.Tensor]:
        """Reset every env and return the first observations (in the step's autograd mode, see `step`)."""
        with torch.inference_mode(False), torch.no_grad():
            everyone = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
            self.event_manager.on_reset(everyone)
            self.reset_envs(everyone)
            self.refresh_state()  # not a step: per-step clocks do not tick
            self.compute_observations()
            observations = self._observations()
        mark("reset")
        return observations

    def _observations(self) -> dict[str, torch.Tensor]:
        obs = self.event_manager.noisy_observations(self.obs_buf)
        self.obs_dict["obs"] = torch.clamp(obs, -self.clip_obs, self.clip_obs).to(self.rl_device)
        if self.num_states > 0:
            self.obs_dict["states"] = torch.clamp(self.states_buf, -self.clip_obs, self.clip_obs).to(self.rl_device)
        return self.obs_dict

    def deployment_info(self) -> dict[str, Any]:
        """What a robot running an exported policy needs from the task (isaac_rl/envs/deployment.py adds the model's side).

        Observation terms come from the task's observation group (`self.observations`,
        isaac_rl/tasks/base/observations.py) where it declares one, else one block `obs`
        of the whole observation. Actions are PD targets
        `action_offset + action_scale * action` where the task sets `action_scale`
        (and `default_dof_pos`, the offset); None where it maps actions its own way.
        Called once, after construction; never in the step.
        """
        group = getattr(self, "observations", None)
        terms = group.term_info() if isinstance(group, ObservationGroup) else [{"name": "obs", "size": self.num_observations, "scale": 1.0}]
        return {
            "observation_terms": [dict(term) for term in terms],
            "num_observations": self.num_observations,
            "num_actions": self.num_actions,
            "clip_observations": self.clip_obs,
            "clip_actions": self.clip_actions,
            # numbers or tensors, as the task keeps them
            "action_scale": getattr(self, "action_scale", None),
            "action_offset": getattr(self, "default_dof_pos", None),
            "control_dt": float(self.dt),
        }

    def check_health(self) -> None:
        """Raise if the physics overflowed or went NaN. Synchronises: not for the step loop."""
        self.sim.check_health()

    # -- rl_games hooks ------------------------------------------------------
    def get_number_of_agents(self) -> int:
        return 1

    @property
    def observation_space(self) -> gym.spaces.Box:
        return self.obs_space

    @property
    def action_space(self) -> gym.spaces.Box:
        return self.act_space

    def set_train_info(self, env_frames: int, *args: Any, **kwargs: Any) -> None:
        """Training progress from the algorithm; override for curricula."""

    def get_env_state(self) -> dict | None:
        """Serializable task state saved with checkpoints; override for curricula."""
        return None

    def set_env_state(self, env_state: dict | None) -> None:
        pass


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_device(device: str, name: str) -> torch.device:
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"{name}={device!r} is not a device; accepted: 'cpu', 'cuda', 'cuda:N'") from None
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"{name}={device!r}: accepted devices are 'cpu', 'cuda' and 'cuda:N'")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{name}={device!r} but CUDA is not available on this machine; use {name}=cpu")
        if (parsed.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"{name}={device!r} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return parsed
