"""HumanoidAMP: a 28-dof humanoid imitates reference motion clips through an AMP discriminator.

Per-frame features (81), all in the root's heading frame (yaw removed, so the
policy and the discriminator see motion independent of where the humanoid
faces):
  root height (1), root rotation as tangent and normal vectors (6), root
  linear and angular velocity (3 + 3), dof positions (28), dof velocities
  (28), key body (hands, feet) positions relative to the root (12).
Observations are the current frame's features; AMP observations are the
features of the last `numAMPObsSteps` frames, newest first, and go to the
agent in `extras['amp_obs']` every step.

Dof positions are the raw hinge angles. The model builds each 3-dof joint
from three hinges, so its angles are already a minimal, continuous
coordinate (limits keep them away from wrapping), and they are the very
coordinates the actions set; a 6D tangent-normal form would be a smooth
function of the same three numbers, longer and no more informative.

Actions (28) in [-1, 1] are PD targets mapped linearly onto each position
actuator's control range (IsaacGymEnvs' PD target ranges, wider than the
joint ranges: see the model); MuJoCo's position actuators are the PD
controllers.

Reset by reference state init (`stateInit`): Default (the model's standing
pose), Start (clip start), Random (a random clip time) or Hybrid (per env,
Random with probability `hybridInitProb`, else Default). The AMP history of a
reference-initialised env is filled from the clip at earlier times. Everything
is mask-based, with no host synchronisation.

An episode ends early when a body other than the feet touches the ground
below `terminationHeight`, and after `maxEpisodeLength` steps. The task reward
is `forwardSpeedWeight` x the root's forward speed (0 by default: pure
imitation); the forward speed (m/s) is logged as Episode/forward_speed.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from isaac_rl import ASSET_ROOT
from isaac_rl.motion import MotionLib, MotionState
from isaac_rl.sim import Simulation
from isaac_rl.tasks.base.vec_task import VecTask
from isaac_rl.utils.torch_math import quat_axis, quat_mul, quat_rotate, quat_rotate_inverse

NUM_DOFS = 28
KEY_BODIES = ("right_hand", "left_hand", "right_foot", "left_foot")
CONTACT_BODIES = ("right_foot", "left_foot")  # bodies allowed to touch the ground
NUM_FRAME_FEATURES = 1 + 6 + 3 + 3 + NUM_DOFS + NUM_DOFS + 3 * len(KEY_BODIES)
STATE_INITS = ("Default", "Start", "Random", "Hybrid")
# a body pushed by more than this (N) counts as touching the ground
CONTACT_FORCE_THRESHOLD = 0.1
# falls are not checked in an episode's first steps: a reference pose may start with a body slightly in contact
FALL_GRACE_STEPS = 1


class HumanoidAMP(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture=False, force_render=False):
        env = cfg["env"]
        self.state_init = env.get("stateInit", "Random")
        if self.state_init not in STATE_INITS:
            raise ValueError(f"env.stateInit={self.state_init!r}: accepted {', '.join(STATE_INITS)}")
        self.hybrid_init_prob = float(env.get("hybridInitProb", 0.5))
        if not 0.0 <= self.hybrid_init_prob <= 1.0:
            raise ValueError(f"env.hybridInitProb={self.hybrid_init_prob}: expected a probability in [0, 1]")
        self.num_amp_obs_steps = int(env.get("numAMPObsSteps", 2))
        if self.num_amp_obs_steps < 2:
            raise ValueError(f"env.numAMPObsSteps={self.num_amp_obs_steps}: expected an integer >= 2 (a transition)")
        self.enable_early_termination = bool(env.get("enableEarlyTermination", True))
        self.termination_height = float(env.get("terminationHeight", 0.5))
        self.forward_speed_weight = float(env.get("forwardSpeedWeight", 0.0))
        self.ground_motions = bool(env.get("groundMotions", True))
        self.motion_file = resolve_motion_file(env.get("motion_file", "motions/humanoid_walk.npz"))
        cfg["env"]["numObservations"] = NUM_FRAME_FEATURES
        cfg["env"]["numActions"] = NUM_DOFS
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render)

        info = self.sim.info
        self.motion_lib = MotionLib(self.motion_file, key_body_names=KEY_BODIES, device=self.device, dof_names=info.dof_names)
        if self.ground_motions:
            self._put_motions_on_ground()
        # inverse-CDF sampling of clip ids: pure tensor work (no multinomial), so a captured step graph may run it
        self._motion_cdf = torch.cumsum(self.motion_lib.motion_weights, 0)
        self._num_motions = self.motion_lib.num_motions()

        low, high = self.sim.ctrl_range.unbind(1)
        self.pd_action_offset = 0.5 * (high + low)
        self.pd_action_scale = 0.5 * (high - low)
        self.key_body_ids = torch.tensor([info.body_index(b) for b in KEY_BODIES], device=self.device)
        fall_bodies = [i for i, name in enumerate(info.body_names) if i > 0 and name not in CONTACT_BODIES]
        self.fall_body_ids = torch.tensor(fall_bodies, device=self.device)
        self.default_qpos = self.sim.default_qpos.clone()

        n = self.num_envs
        self.amp_obs_history = torch.zeros((n, self.num_amp_obs_steps, NUM_FRAME_FEATURES), device=self.device)
        self.amp_observation_space = gym.spaces.Box(
            -np.inf, np.inf, (self.num_amp_obs_steps * NUM_FRAME_FEATURES,), dtype=np.float32
        )
        # the clip and time each env was last reset to (reference inits only; -1 for Default)
        self.reset_motion_ids = torch.full((n,), -1, dtype=torch.long, device=self.device)
        self.reset_motion_times = torch.zeros(n, device=self.device)
        self.forward_speed = torch.zeros(n, device=self.device)
        self.extras["amp_obs"] = self.amp_obs_history.view(n, -1)
        self.extras["episode"] = {"forward_speed": self.forward_speed}

    def create_sim(self) -> Simulation:
        asset = self.cfg["env"].get("asset", "mjcf/amp_humanoid.xml")
        sim = self.make_sim(asset, contact_forces=True, refresh_body_states=True)
        info = sim.info
        missing = [b for b in KEY_BODIES if b not in info.body_names]
        if not info.has_free_root or info.num_dofs != NUM_DOFS or info.actuator_names != info.dof_names or missing:
            raise ValueError(
                f"HumanoidAMP needs a model with a free root, {NUM_DOFS} hinge dofs each driven by a position actuator "
                f"of the same name, in dof order, and bodies {list(KEY_BODIES)}; {asset!r} has {info.num_dofs} dofs, "
                f"{info.nu} actuators" + (f" and lacks bodies {missing}" if missing else "")
            )
        return sim

    def _put_motions_on_ground(self) -> None:
        """Shift each clip vertically so that its lowest point over all frames just touches the floor.

        Clips made for a slightly different foot put the soles up to ~8 cm into
        the ground (the CMU run and walk clips) or keep them above it. The
        physics cannot follow that, so the discriminator would tell reference
        from simulated motion by root height, and reference inits would start
        inside the floor.
        """
        lib = self.motion_lib
        heights = []
        for motion_id in range(lib.num_motions()):
            frames = lib.clip_frames(motion_id)
            qpos = torch.cat((frames.root_pos, frames.root_rot, frames.dof_pos), dim=1)
            heights.append(-self.sim.ground_clearance(qpos).min())
        heights = torch.stack(heights)
        lib.raise_clips(heights)
        for path, height in zip(lib.motion_files, heights.tolist()):
            if abs(height) > 0.005:
                print(f"isaac_rl: motion {Path(path).name} moved {100 * height:+.1f} cm to put its lowest point on the floor")

    # -- AMP ------------------------------------------------------------------
    def fetch_amp_obs_demo(self, num_samples: int) -> torch.Tensor:
        """AMP observations (num_samples, numAMPObsSteps x 81) of random moments of the reference clips."""
        motion_ids = self._sample_motion_ids(num_samples)
        span = self.dt * (self.num_amp_obs_steps - 1)
        # the newest frame at least `span` into the clip, so the history does not run off its start
        newest = self.motion_lib.sample_time(motion_ids, truncate_time=span) + span
        history, _ = self._motion_history(motion_ids, newest)
        return history.reshape(num_samples, -1)

    def _motion_history(self, motion_ids: torch.Tensor, newest_times: torch.Tensor) -> tuple[torch.Tensor, MotionState]:
        """Features (N, numAMPObsSteps, 81) of the clips at newest_times, newest_times - dt, ...,
        and the clips' state at newest_times."""
        n, steps = len(motion_ids), self.num_amp_obs_steps
        times = newest_times.unsqueeze(1) - self.dt * torch.arange(steps, device=self.device, dtype=newest_times.dtype)
        ids = motion_ids.unsqueeze(1).expand_as(times)
        state = self.motion_lib.get_motion_state(ids.reshape(-1), times.reshape(-1))
        features = compute_frame_features(
            state.root_pos, state.root_rot, state.root_vel, state.root_ang_vel, state.dof_pos, state.dof_vel, state.key_pos
        )
        newest = MotionState(*(values.view(n, steps, *values.shape[1:])[:, 0] for values in state))
        return features.view(n, steps, NUM_FRAME_FEATURES), newest

    def _sample_motion_ids(self, n: int) -> torch.Tensor:
        return self._motion_ids_at(torch.rand(n, device=self.device))

    def _motion_ids_at(self, u: torch.Tensor) -> torch.Tensor:
        """Clip ids by their weights, from uniform numbers `u` in [0, 1) (inverse CDF)."""
        return torch.searchsorted(self._motion_cdf, u, right=True).clamp_max(self._num_motions - 1)

    # -- the step -------------------------------------------------------------
    def pre_physics_step(self, actions: torch.Tensor) -> None:
        self.sim.set_ctrl(self.pd_action_offset + self.pd_action_scale * actions)

    def post_physics_step(self) -> None:
        # age the AMP history before resets refill it; compute_observations writes the newest frame
        self.amp_obs_history[:, 1:] = self.amp_obs_history[:, :-1].clone()
        super().post_physics_step()

    def _sim_frame_features(self) -> torch.Tensor:
        sim = self.sim
        return compute_frame_features(
            sim.root_pos, sim.root_quat, sim.root_lin_vel, sim.root_ang_vel, sim.dof_pos, sim.dof_vel,
            sim.body_pos[:, self.key_body_ids],
        )  # fmt: skip

    def compute_observations(self) -> None:
        frame = self._sim_frame_features()
        self.obs_buf[:] = frame
        self.amp_obs_history[:, 0] = frame

    def compute_reward(self) -> None:
        sim = self.sim
        self.forward_speed[:] = compute_forward_speed(sim.root_quat, sim.root_lin_vel)
        self.rew_buf[:] = self.forward_speed_weight * self.forward_speed
        fallen = compute_fallen(
            sim.contact_forces[:, self.fall_body_ids], sim.body_pos[:, self.fall_body_ids, 2], self.termination_height
        ) & (self.progress_buf > FALL_GRACE_STEPS)
        if not self.enable_early_termination:
            fallen = torch.zeros_like(fallen)
        self.reset_buf[:] = fallen.long()

    def reset_idx(self, env_mask: torch.Tensor) -> None:
        n = self.num_envs
        # one draw for all of the reset's random numbers: the clip, the time in it, Hybrid's choice
        # (see "Random draws" in isaac_rl/tasks/base/vec_task.py)
        u = torch.rand((3, n), device=self.device)
        motion_ids = self._motion_ids_at(u[0])
        if self.state_init == "Start":
            times = torch.zeros(n, device=self.device)
        else:
            times = self.motion_lib.time_at_phase(motion_ids, u[1])
        if self.state_init == "Default":
            use_reference = torch.zeros(n, dtype=torch.bool, device=self.device)
        elif self.state_init == "Hybrid":
            use_reference = u[2] < self.hybrid_init_prob
        else:
            use_reference = torch.ones(n, dtype=torch.bool, device=self.device)

        history, state = self._motion_history(motion_ids, times)
        ref_qpos = torch.cat((state.root_pos, state.root_rot, state.dof_pos), dim=1)
        # MuJoCo keeps a free joint's angular velocity in the body frame
        local_ang_vel = quat_rotate_inverse(state.root_rot, state.root_ang_vel)
        ref_qvel = torch.cat((state.root_vel, local_ang_vel, state.dof_vel), dim=1)
        ref = use_reference.unsqueeze(1)
        qpos = torch.where(ref, ref_qpos, self.default_qpos.expand(n, -1))
        qvel = torch.where(ref, ref_qvel, torch.zeros_like(ref_qvel))
        self.sim.reset_envs(env_mask, qpos, qvel)

        # a Default-initialised env has no past: its history repeats its first frame
        default_history = self._sim_frame_features().unsqueeze(1).expand(-1, self.num_amp_obs_steps - 1, -1)
        past = torch.where(ref.unsqueeze(2), history[:, 1:], default_history)
        self.amp_obs_history[:, 1:] = torch.where(env_mask.view(n, 1, 1), past, self.amp_obs_history[:, 1:])

        self.reset_motion_ids.copy_(torch.where(env_mask, torch.where(use_reference, motion_ids, -1), self.reset_motion_ids))
        self.reset_motion_times.copy_(torch.where(env_mask, times, self.reset_motion_times))


def resolve_motion_file(path: str) -> Path:
    """A motion file given absolute or relative to assets/ (or to the working directory)."""
    if not path:
        raise FileNotFoundError("env.motion_file is empty: give a .npz/.npy clip or a .yaml list, absolute or relative to assets/")
    candidates = [Path(path)] if Path(path).is_absolute() else [ASSET_ROOT / path, Path(path)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"env.motion_file {path!r} not found (looked at: {tried}); accepted: a .npz/.npy clip or a .yaml list of clips, "
        "absolute or relative to assets/"
    )


def heading_inverse(root_rot: torch.Tensor) -> torch.Tensor:
    """The rotation (wxyz) that undoes the root's yaw (the heading of its +x axis): world -> heading frame.

    Built from the root's own tensors, with no constants, so CUDA graphs can capture it.
    """
    forward = quat_axis(root_rot, 0)
    half = -0.5 * torch.atan2(forward[..., 1], forward[..., 0])
    zero = torch.zeros_like(half)
    return torch.stack((torch.cos(half), zero, zero, torch.sin(half)), dim=-1)


def compute_frame_features(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    root_vel: torch.Tensor,
    root_ang_vel: torch.Tensor,
    dof_pos: torch.Tensor,
    dof_vel: torch.Tensor,
    key_pos: torch.Tensor,
) -> torch.Tensor:
    """Per-frame features (N, 81) from root state (world frame, wxyz), dofs and key body positions (N, K, 3)."""
    to_heading = heading_inverse(root_rot)
    local_rot = quat_mul(to_heading, root_rot)
    tangent = quat_axis(local_rot, 0)
    normal = quat_axis(local_rot, 2)
    local_vel = quat_rotate(to_heading, root_vel)
    local_ang_vel = quat_rotate(to_heading, root_ang_vel)
    relative_key = key_pos - root_pos.unsqueeze(-2)
    local_key = quat_rotate(to_heading.unsqueeze(-2).expand(*key_pos.shape[:-1], 4), relative_key)
    return torch.cat(
        (root_pos[..., 2:3], tangent, normal, local_vel, local_ang_vel, dof_pos, dof_vel, local_key.flatten(-2)), dim=-1
    )


def compute_forward_speed(root_rot: torch.Tensor, root_vel: torch.Tensor) -> torch.Tensor:
    """Root speed (m/s) along the heading: the horizontal direction the root's +x axis points to."""
    forward = quat_axis(root_rot, 0)[..., :2]
    forward = forward / forward.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return (forward * root_vel[..., :2]).sum(dim=-1)


def compute_fallen(contact_forces: torch.Tensor, body_heights: torch.Tensor, termination_height: float) -> torch.Tensor:
    """(N,) True where some body (other than those allowed) is in contact and below termination_height."""
    touching = contact_forces.norm(dim=-1) > CONTACT_FORCE_THRESHOLD
    return (touching & (body_heights < termination_height)).any(dim=-1)
