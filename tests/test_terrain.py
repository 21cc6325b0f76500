"""Terrain: the generated tiles, the heightfield the physics collides with, height scans and the curriculum."""

import math

import mujoco
import numpy as np
import pytest
import torch

from isaac_rl.sim import Heightfield, Simulation
from isaac_rl.sim.model import load_model
from isaac_rl.terrain import HeightScan, TerrainConfig, generate_terrain, update_terrain_levels
from isaac_rl.terrain.generator import column_kind
from isaac_rl.utils.torch_math import quat_from_angle_axis

SMALL = TerrainConfig(num_levels=4, num_terrains=10, border_size=2.0)
BALL = """
<mujoco>
  <option timestep="0.005"/>
  <worldbody>
    <geom name="floor" type="plane" size="10 10 0.1" friction="1 0.005 0.0001"/>
    <body name="ball" pos="0 0 1"><freejoint/><geom type="sphere" size="0.1" mass="1"/></body>
  </worldbody>
</mujoco>
"""


def ray_height(model, data, x, y):
    """Height of the ground below (x, y): a ray cast down by MuJoCo itself."""
    geom = np.zeros(1, np.int32)
    distance = mujoco.mj_ray(model, data, np.array([x, y, 10.0]), np.array([0.0, 0.0, -1.0]), None, 1, -1, geom)
    return 10.0 - distance


def test_the_physics_ground_is_the_generated_grid():
    terrain = generate_terrain(SMALL)
    field = terrain.heightfield
    model = load_model("mjcf/anymal.xml", heightfield=field)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert model.nhfield >= 1 and mujoco.mjtGeom.mjGEOM_PLANE not in model.geom_type
    rng = np.random.default_rng(0)
    for i, j in zip(rng.integers(0, field.heights.shape[0], 20), rng.integers(0, field.heights.shape[1], 20)):
        x, y = field.origin[0] + i * field.spacing, field.origin[1] + j * field.spacing
        assert ray_height(model, data, x, y) == pytest.approx(float(field.heights[i, j]), abs=1e-4)


def test_height_scan_reads_the_grid_and_interpolates_between_samples():
    heights = np.zeros((5, 4), dtype=np.float32)
    heights[2, 1] = 1.0
    scan = HeightScan(Heightfield(heights, 0.5, origin=(-1.0, 2.0)), [0.0], [0.0], torch.device("cpu"))
    at = lambda x, y: scan.ground_height(torch.tensor([[x, y]])).item()  # noqa: E731
    assert at(0.0, 2.5) == pytest.approx(1.0)  # sample (2, 1)
    assert at(0.25, 2.5) == pytest.approx(0.5)  # half way to (3, 1)
    assert at(0.0, 2.25) == pytest.approx(0.5)
    assert at(100.0, 100.0) == 0.0  # off the grid: its edge


def test_height_scan_points_turn_with_the_base_heading():
    # a ramp rising along +y: heights = y
    ys = np.arange(0, 41) * 0.1
    field = Heightfield(np.tile(ys, (41, 1)).astype(np.float32), 0.1, origin=(-2.0, -2.0))
    scan = HeightScan(field, [0.5], [0.0], torch.device("cpu"))  # one point 0.5 m ahead of the base
    base = torch.tensor([[0.0, 0.0, 0.6]])
    facing_x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    facing_y = quat_from_angle_axis(torch.tensor([math.pi / 2]), torch.tensor([[0.0, 0.0, 1.0]]))
    # pitching the base must not move the scan off the ground plane
    pitched = quat_from_angle_axis(torch.tensor([0.4]), torch.tensor([[0.0, 1.0, 0.0]]))
    assert scan.scan(base, facing_x).item() == pytest.approx(2.0)  # y = 0 -> height 2 (origin -2)
    assert scan.scan(base, facing_y).item() == pytest.approx(2.5, abs=1e-5)
    assert scan.scan(base, pitched).item() == pytest.approx(2.0, abs=1e-5)


def test_rows_get_harder_and_columns_follow_the_proportions():
    terrain = generate_terrain(SMALL)
    assert terrain.kinds == [column_kind(j, SMALL) for j in range(10)]
    # cumulative shares 0.1, 0.2, 0.55, 0.8, 1.0 against j / 10
    assert terrain.kinds == ["smooth_slope", "rough_slope", "stairs_up", "stairs_up", "stairs_up", "stairs_up", "stairs_down",
                             "stairs_down", "discrete_obstacles", "discrete_obstacles"]  # fmt: skip
    # stairs down into the tile: the spawn platform sits 7 steps (of 5 cm + 17.5 cm x difficulty) above the border
    stairs = terrain.kinds.index("stairs_down")
    for level in range(4):
        assert terrain.origins[level, stairs, 2] == pytest.approx(7 * (0.05 + 0.175 * level / 4), abs=1e-5)
    # and the climbing columns start in a pit as deep
    assert terrain.origins[3, 2, 2] == pytest.approx(-7 * (0.05 + 0.175 * 3 / 4), abs=1e-5)
    # origins are tile centres; the border is flat
    assert terrain.origins[1, 3, :2].tolist() == [1.5 * 8.0, 3.5 * 8.0]
    border = int(SMALL.border_size / SMALL.horizontal_scale)
    heights = terrain.heightfield.heights
    assert not heights[:border].any() and not heights[:, :border].any() and not heights[-border:].any()
    assert heights.shape == (4 * 80 + 2 * border, 10 * 80 + 2 * border)


def test_equal_shares_get_equal_columns_whatever_the_float_sums():
    # 0.2 + 0.2 + 0.2 is 0.6000000000000001 in floats: column 12 of 20 (0.6) must still start the fourth kind
    config = TerrainConfig(num_terrains=20, proportions=(0.2, 0.2, 0.2, 0.2, 0.2))
    kinds = [column_kind(j, config) for j in range(20)]
    assert all(kinds.count(kind) == 4 for kind in config.kinds[:5]), kinds


def test_stepping_stones_take_what_the_proportions_leave():
    config = TerrainConfig(num_levels=2, num_terrains=4, border_size=1.0, proportions=(0.5,))
    terrain = generate_terrain(config)
    assert terrain.kinds == ["smooth_slope", "smooth_slope", "stepping_stones", "stepping_stones"]
    stones = terrain.heightfield.heights[10 : 10 + 80, 10 + 2 * 80 : 10 + 3 * 80]
    assert stones.min() == pytest.approx(-1.0) and stones.max() == 0.0


@pytest.mark.parametrize(
    "terrain, message",
    [
        ({"terrainProportions": [0.5, 0.6]}, "summing to at most 1"),
        ({"mapWidth": 6.0}, "tiles square"),
        ({"maxInitMapLevel": 10}, "maxInitMapLevel"),
        ({"numLevels": 0}, "numLevels"),
    ],
)
def test_bad_terrain_config_says_what_is_accepted(terrain, message):
    with pytest.raises(ValueError, match=message):
        TerrainConfig.from_task_cfg(terrain)


def test_curriculum_promotes_walkers_demotes_laggards_and_recycles_the_top_row():
    torch.manual_seed(0)
    levels = torch.tensor([0, 3, 3, 0, 9])
    distance = torch.tensor([5.0, 1.0, 3.0, 0.1, 4.5])  # tiles of 8 m: leaving one takes > 4 m
    speed = torch.tensor([1.0, 1.0, 0.5, 0.0, 1.0])  # asked for over 20 s; demoted below a quarter of it
    new = update_terrain_levels(levels, distance, speed, episode_length_s=20.0, tile_length=8.0, num_levels=10)
    assert new[:4].tolist() == [1, 2, 3, 0]  # up; down (1 m < 5 m); stays (3 m > 2.5 m); row 0 floors
    assert 0 <= new[4] < 10  # past the top row: a random row


def test_a_ball_comes_to_rest_on_a_step_of_the_heightfield(tmp_path):
    # ground 0.3 m high for x > 0, 0 below: a ball dropped at x = 0.5 rests on the step, one at -0.5 on the floor
    heights = np.zeros((41, 41), dtype=np.float32)
    heights[21:] = 0.3
    model_file = tmp_path / "ball.xml"
    model_file.write_text(BALL)
    field = Heightfield(heights, 0.1, origin=(-2.0, -2.0))
    sim = Simulation(str(model_file), num_envs=2, device="cpu", substeps=4, backend="mujoco", heightfield=field)
    qpos = torch.tensor([[0.5, 0.0, 1.0, 1, 0, 0, 0], [-0.5, 0.0, 1.0, 1, 0, 0, 0]])
    sim.reset_envs(torch.ones(2, dtype=torch.bool), qpos, torch.zeros(2, 6))
    for _ in range(100):
        sim.step()
    sim.check_health()
    torch.testing.assert_close(sim.root_pos[:, 2], torch.tensor([0.4, 0.1]), atol=0.01, rtol=0)


def test_a_large_ground_is_cut_into_heightfield_pieces_that_meet_without_seams():
    rng = np.random.default_rng(0)
    field = Heightfield(rng.uniform(0.0, 0.3, (401, 341)).astype(np.float32), 0.1, origin=(-5.0, 3.0))  # 40 m x 34 m
    model = load_model("mjcf/anymal.xml", heightfield=field)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert model.nhfield == 4  # pieces of at most 32 m: 2 x 2
    for i, j in [(0, 0), (320, 0), (320, 320), (319, 321), (400, 340), *zip(rng.integers(0, 401, 30), rng.integers(0, 341, 30))]:
        x, y = field.origin[0] + i * field.spacing, field.origin[1] + j * field.spacing
        assert ray_height(model, data, x, y) == pytest.approx(float(field.heights[i, j]), abs=1e-4), (i, j)


def test_robots_far_from_the_middle_of_a_large_ground_stay_on_it_under_mujoco_warp():
    # MuJoCo Warp's heightfield contacts go wrong far from a heightfield's centre (45 m, 45 m on one 100 m
    # field: robots blew up); the pieces keep every contact near its piece's centre
    pytest.importorskip("mujoco_warp")
    heights = np.random.default_rng(0).uniform(0.0, 0.02, (1001, 1001)).astype(np.float32)
    field = Heightfield(heights, 0.1, origin=(-50.0, -50.0))
    sim = Simulation("mjcf/anymal.xml", num_envs=32, device="cpu", substeps=4, timestep=0.005, backend="warp", heightfield=field)
    qpos = torch.as_tensor(sim.mj_model.qpos0, dtype=torch.float32).repeat(32, 1)
    qpos[:, :3] = torch.tensor([45.0, 45.0, 0.62])
    sim.reset_envs(torch.ones(32, dtype=torch.bool), qpos, torch.zeros(32, sim.info.nv))
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        sim.set_ctrl(torch.rand(32, sim.info.nu, generator=generator) * 2.0 - 1.0)
        sim.step()
    sim.check_health()
    assert bool((sim.root_pos[:, 2] > 0.05).all()) and bool((sim.qvel.abs() < 100).all())


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_a_ball_rolls_across_the_seam_between_two_pieces_as_over_one_heightfield(tmp_path, backend, monkeypatch):
    if backend == "warp":
        pytest.importorskip("mujoco_warp")
    from isaac_rl.sim import heightfield

    model_file = tmp_path / "ball.xml"
    model_file.write_text(BALL)
    field = Heightfield(np.zeros((401, 11), dtype=np.float32), 0.1, origin=(-5.0, -0.5))  # 40 m: pieces meet at x = 27

    def roll(piece_length: float) -> tuple[int, torch.Tensor]:
        monkeypatch.setattr(heightfield, "PIECE_LENGTH", piece_length)
        sim = Simulation(str(model_file), num_envs=1, device="cpu", substeps=4, backend=backend, heightfield=field)
        # rolling at 5 m/s from x = 25: over the seam within half a second
        sim.reset_envs(torch.ones(1, dtype=torch.bool), torch.tensor([[25.0, 0.0, 0.1, 1, 0, 0, 0]]), torch.tensor([[5.0, 0, 0, 0, 50.0, 0]]))
        path = []
        for _ in range(40):
            sim.step()
            path.append(sim.root_pos[0].clone())
        sim.check_health()
        return sim.mj_model.nhfield, torch.stack(path)

    pieces, across = roll(32.0)
    one, over_one = roll(1000.0)
    assert (pieces, one) == (2, 1)
    assert float(across[-1, 0]) > 28.0  # it crossed
    torch.testing.assert_close(across, over_one, atol=1e-3, rtol=0)
