"""The biped robot (assets/mjcf/biped_h1like.xml) on both backends, its reward terms on known inputs, BipedFlat and BipedTerrain."""

import copy
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO_ROOT, run_train, step_graph_without_host_sync
from omegaconf import OmegaConf

from isaac_rl import CFG_ROOT, tasks
from isaac_rl.sim import Simulation
from isaac_rl.tasks.biped import FEET, JOINTS, feet_air_time_biped, feet_slide, joint_deviation, joint_limits
from isaac_rl.utils.run_dirs import newest_run_dir

FLAT_CFG = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / "BipedFlat.yaml"))
STANDING = {name: float(angle) for name, angle in FLAT_CFG["env"]["defaultJointAngles"].items()}


def make_biped(task="BipedFlat", num_envs=2, device="cpu", backend="mujoco", **learn):
    cfg = OmegaConf.to_container(OmegaConf.load(CFG_ROOT / "task" / f"{task}.yaml")) if task != "BipedFlat" else copy.deepcopy(FLAT_CFG)
    cfg["env"]["numEnvs"] = num_envs
    cfg["env"]["learn"].update(learn)
    cfg["sim"]["backend"] = backend
    return tasks.make(task, cfg=cfg, rl_device=device, sim_device=device, graphics_device_id=0, headless=True)


# -- the model -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_the_robot_lands_on_its_soles_and_holds_its_height_under_pd_at_the_standing_pose(backend):
    sim = Simulation("mjcf/biped_h1like.xml", 2, "cpu", substeps=4, timestep=0.005, backend=backend, contact_forces=True)
    assert sim.info.dof_names == list(JOINTS) == sim.info.actuator_names
    assert sim.mj_model.body_subtreemass[1] == pytest.approx(51.7, abs=0.1)
    standing = torch.tensor([STANDING[name] for name in JOINTS])
    qpos = sim.default_qpos.repeat(2, 1)
    qpos[:, 2], qpos[:, 7:] = 1.0, standing  # soles 2 cm above the floor
    sim.reset_envs(torch.ones(2, dtype=torch.bool), qpos, torch.zeros(2, sim.info.nv))
    sim.set_ctrl(standing.expand(2, -1))
    weight = sim.mj_model.body_subtreemass[1] * 9.81
    for _ in range(25):  # 0.5 s
        sim.step()
        assert (sim.root_pos[:, 2] > 0.85).all(), sim.root_pos
        # nothing but the soles touches the floor
        assert (sim.scene.body_contact_forces(("pelvis", "torso")).norm(dim=-1) == 0).all()
    feet_load = sim.scene.body_contact_forces(FEET)[..., 2].sum(dim=1)
    torch.testing.assert_close(feet_load, torch.full((2,), weight), rtol=0.3, atol=0)
    # level and upright enough to stand on: the pelvis's z axis within ~20 degrees of vertical
    assert (sim.root_quat[:, 0] > 0.98).all(), sim.root_quat


def test_only_the_sole_spheres_pelvis_and_torso_can_touch_the_ground():
    # AnymalTerrain's lesson: a capsule reaching into a foot went deep into MuJoCo Warp's heightfield contacts
    sim = Simulation("mjcf/biped_h1like.xml", 1, "cpu")
    model = sim.mj_model
    colliding = {model.geom(g).name for g in range(model.ngeom) if model.geom_contype[g] and model.geom_bodyid[g] > 0}
    soles = {f"{side}_sole_{end}_{edge}" for side in ("left", "right") for end in ("toe", "heel") for edge in ("in", "out")}
    assert colliding == soles | {"pelvis", "torso"}
    # self-collision is off: no robot geom accepts contacts
    assert not any(model.geom_conaffinity[g] for g in range(model.ngeom) if model.geom_bodyid[g] > 0)
    for g in range(model.ngeom):
        if model.geom(g).name in soles:
            assert model.geom_type[g] == 2 and model.geom_pos[g][2] == pytest.approx(-0.05)  # spheres under the ankle


# -- reward terms on known inputs ----------------------------------------------------


def biped_state(contact, air_time=(0.0, 0.0), contact_time=(0.0, 0.0), command=(1.0, 0.0, 0.0)):
    forces = torch.zeros(1, 2, 3)
    forces[0, :, 2] = torch.tensor([50.0 if c else 0.0 for c in contact])
    return SimpleNamespace(
        feet_forces=forces, feet_air_time=torch.tensor([air_time]), feet_contact_time=torch.tensor([contact_time]),
        dt=0.02, commands=torch.tensor([command]), air_time_threshold=0.4,
    )  # fmt: skip


def test_feet_air_time_rewards_single_stance_up_to_the_threshold_when_asked_to_move():
    # left foot down for 0.2 s, right foot up for 0.1 s: the shorter, counting this step
    torch.testing.assert_close(feet_air_time_biped(biped_state((True, False), (0.0, 0.1), (0.2, 0.0))), torch.tensor([0.12]))
    # the threshold caps it
    torch.testing.assert_close(feet_air_time_biped(biped_state((True, False), (0.0, 0.9), (0.9, 0.0))), torch.tensor([0.4]))
    # double stance, flight and standing commands earn nothing
    assert feet_air_time_biped(biped_state((True, True), contact_time=(0.5, 0.5))).item() == 0.0
    assert feet_air_time_biped(biped_state((False, False), air_time=(0.5, 0.5))).item() == 0.0
    assert feet_air_time_biped(biped_state((True, False), (0.0, 0.1), (0.2, 0.0), command=(0.05, 0.0, 1.0))).item() == 0.0


def test_feet_slide_counts_only_feet_on_the_ground():
    task = biped_state((True, False))
    task.feet_velocities = torch.tensor([[[0.3, 0.4, 1.0, 0, 0, 0], [2.0, 0.0, 0.0, 0, 0, 0]]])
    torch.testing.assert_close(feet_slide(task), torch.tensor([0.5]))


def test_joint_deviation_and_soft_joint_limits():
    task = SimpleNamespace(
        dof_pos=torch.tensor([[0.1, -0.2, 1.0, 2.0]]), default_dof_pos=torch.tensor([0.0, 0.0, 1.0, 1.0]),
        joint_groups={"hip": torch.tensor([0, 1]), "rest": torch.tensor([3]), "ankles": torch.tensor([1, 2, 3])},
        soft_dof_lower=torch.tensor([-1.0, -0.1, 0.0, 0.0]), soft_dof_upper=torch.tensor([1.0, 1.0, 0.9, 1.5]),
    )  # fmt: skip
    torch.testing.assert_close(joint_deviation(task, "hip"), torch.tensor([0.3]))
    torch.testing.assert_close(joint_deviation(task, "rest"), torch.tensor([1.0]))
    # the ankles' only (joint 0 is inside its limits anyway): 0.1 below, 0.1 and 0.5 above
    torch.testing.assert_close(joint_limits(task), torch.tensor([0.1 + 0.1 + 0.5]))
    task.dof_pos[0, 0] = 1.5  # past its limit, but not an ankle
    torch.testing.assert_close(joint_limits(task), torch.tensor([0.1 + 0.1 + 0.5]))


# -- the tasks ---------------------------------------------------------------------


def test_biped_flat_steps_observes_262_and_a_fall_costs_the_termination_penalty():
    env = make_biped(num_envs=2, pushRobots=False)
    assert env.num_observations == 262 and env.num_actions == 21
    assert env.sim.mj_model.nhfield == 0  # the floor plane stands for the level map
    obs = env.reset()["obs"]
    assert obs.shape == (2, 262) and torch.isfinite(obs).all()
    # every action at -1: the PD targets fold the robot; the fall ends the episode with -200 x dt
    fallen_reward = None
    for _ in range(150):
        obs, reward, resets, extras = env.step(-torch.ones(2, 21))
        if resets.any():
            fallen_reward = reward[resets.bool()]
            break
    assert fallen_reward is not None, env.sim.root_pos
    # the penalty and that step's terms (a step's tracking reward is at most 2 x dt)
    assert (fallen_reward <= -200.0 * 0.02 + 0.04).all() and (fallen_reward > -200.0 * 0.02 - 0.5).all(), fallen_reward
    assert {"rew_feet_air_time", "rew_feet_slide", "rew_joint_deviation_arms"} <= set(extras["episode_sums"])


@pytest.mark.parametrize("only_positive", [True, False])
def test_the_step_reward_is_clipped_at_0_only_when_asked(only_positive):
    env = make_biped(num_envs=4, pushRobots=False, onlyPositiveRewards=only_positive, terminationRewardScale=0.0)
    env.reset()
    torch.manual_seed(0)
    rewards = torch.stack([env.step(torch.rand(4, 21) * 2 - 1)[1] for _ in range(20)])
    # flailing: the penalties outweigh the tracking rewards on some steps
    assert (rewards.min() >= 0.0) == only_positive, rewards.min()


def test_pushes_set_the_base_velocity_at_the_interval():
    env = make_biped(num_envs=2, pushRobots=True, pushInterval_s=0.04, pushVelocity=0.5)
    env.reset()
    env.step(torch.zeros(2, 21))
    before = env.sim.root_lin_vel[:, :2].clone()
    env.step(torch.zeros(2, 21))  # the second step pushes, before its physics
    assert not torch.allclose(env.sim.root_lin_vel[:, :2], before, atol=0.05)


def test_an_episode_ends_on_the_last_step_of_its_second_command_not_on_a_fresh_draw():
    # BipedFlat's 20 s episodes and 10 s commands, shortened to 20 and 10 steps; standing through them
    env = make_biped(num_envs=3, pushRobots=False, episodeLength_s=0.4, resampleInterval_s=0.2)
    env.reset()
    commands, progress, resets = [env.commands.clone()], [env.progress_buf.clone()], []
    for _ in range(32):
        _, _, reset, _ = env.step(torch.zeros(3, 21))
        commands.append(env.commands.clone())
        progress.append(env.progress_buf.clone())
        resets.append(reset.bool())
    drawn_at = [int(progress[i + 1][0]) for i in range(32) if not torch.equal(commands[i], commands[i + 1])]
    # new commands at the reset (progress 0, reset within the step: legged_gym's order) and at the step of progress 11,
    # after the 10 steps (progress 1-10) of the first: the second holds to the time-out, which draws nothing
    assert drawn_at == [11, 0, 11], drawn_at
    # the episode's last step (progress max - 1, a time-out) ended it; reset within that step, it returned progress 0
    done_steps = [i for i in range(32) if resets[i].all()]
    assert [int(progress[i][0]) + 1 for i in done_steps] == [env.max_episode_length - 1]
    assert int(progress[done_steps[0] + 1][0]) == 0


def test_biped_terrain_starts_on_the_curriculum_and_scans_the_ground():
    env = make_biped("BipedTerrain", num_envs=4)
    env.reset()
    obs, *_ = env.step(torch.zeros(4, 21))
    assert obs["obs"].shape == (4, 262)
    assert (env.terrain_levels <= 5).all() and env.terrain.config.num_levels == 10  # maxInitMapLevel 5, Isaac Lab's
    assert env.sim.mj_model.nhfield > 0
    # the heights are read around each pelvis: ground well below it
    assert ((env.root_pos[:, 2:3] - env.measured_heights) > 0.6).all()


@pytest.mark.gpu
@pytest.mark.parametrize("task", ["BipedFlat", "BipedTerrain"])
def test_the_cuda_step_stays_in_one_graph_without_host_syncs(task):
    step_graph_without_host_sync(make_biped(task, num_envs=256, device="cuda:0", backend="warp"), 200)


def test_biped_flat_trains_two_epochs_on_cpu(tmp_path):
    result = run_train("task=BipedFlat", "num_envs=8", "max_iterations=2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"^epoch 2/2: .*lin_vel_error", result.stdout, re.M), result.stdout[-2000:]
    assert list(newest_run_dir(tmp_path / "runs" / "BipedFlat").glob("nn/last_BipedFlat_ep_2*.pth"))


def test_evaluate_terrain_judges_a_biped_terrain_policy(tmp_path):
    class Stand(torch.nn.Module):
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return torch.zeros(obs.shape[0], 21)  # the PD targets stay at the standing pose

    torch.jit.script(Stand()).save(str(tmp_path / "stand.pt"))
    args = ("--task", "BipedTerrain", "--kinds", "stairs_up", "--rows", "0", "--envs-per-tile", "2", "--seconds", "1")
    script = REPO_ROOT / "scripts" / "evaluate_terrain.py"
    result = subprocess.run([sys.executable, str(script), "--policy", str(tmp_path / "stand.pt"), *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    tile = json.loads(result.stdout.splitlines()[-1])["stairs_up:0"]
    # standing still for 1 s: it neither crosses half a tile nor walks far
    assert tile["crossed"] == 0.0 and tile["mean_distance_m"] < 1.0, tile
