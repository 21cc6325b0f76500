"""Ground heights under and around each robot, read from the terrain grid on the device.

The heights the physics collides with are known up front (the heightfield),
so a height scan is a lookup, not a ray cast: bilinear interpolation of the
grid at points laid out in the base's yaw frame. Tensor work only, no host
synchronisation, so it runs inside the captured step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from isaac_rl.sim.heightfield import Heightfield
from isaac_rl.utils.torch_math import quat_rotate

# IsaacGymEnvs' AnymalTerrain scan: a 1.6 m x 1 m grid around the base without its centre lines (14 x 10 = 140 points)
ANYMAL_SCAN_X = tuple(0.1 * k for k in (-8, -7, -6, -5, -4, -3, -2, 2, 3, 4, 5, 6, 7, 8))
ANYMAL_SCAN_Y = tuple(0.1 * k for k in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5))
# Isaac Lab's locomotion height scanner: a 1.6 m x 1.0 m grid every 0.1 m, the middle included (where a biped's feet
# are; the quadruped's grid above leaves out a 0.4 m band under the base)
GRID_SCAN_X = tuple(0.1 * k for k in range(-8, 9))
GRID_SCAN_Y = tuple(0.1 * k for k in range(-5, 6))


class HeightScan:
    def __init__(self, field: Heightfield, points_x: Sequence[float], points_y: Sequence[float], device: torch.device) -> None:
        self.heights = torch.as_tensor(field.heights, dtype=torch.float32, device=device)
        self.spacing = float(field.spacing)
        self.origin = torch.tensor(field.origin, dtype=torch.float32, device=device)
        grid_x, grid_y = torch.meshgrid(
            torch.tensor(points_x, dtype=torch.float32), torch.tensor(points_y, dtype=torch.float32), indexing="ij"
        )
        # (num_points, 3) in the base's yaw frame
        self.points = torch.stack((grid_x.flatten(), grid_y.flatten(), torch.zeros(grid_x.numel())), dim=1).to(device)

    @property
    def num_points(self) -> int:
        return self.points.shape[0]

    def ground_height(self, xy: torch.Tensor) -> torch.Tensor:
        """Ground height (m) at world points xy (..., 2); points off the grid read its nearest edge."""
        # a NaN position (an env whose physics blew up, reported by check_health) must not index out of the grid
        grid = torch.nan_to_num((xy - self.origin) / self.spacing)
        nx, ny = self.heights.shape
        gx = grid[..., 0].clamp(0, nx - 1.001)
        gy = grid[..., 1].clamp(0, ny - 1.001)
        ix, iy = gx.long(), gy.long()
        fx, fy = gx - ix, gy - iy
        h = self.heights
        low = h[ix, iy] * (1 - fy) + h[ix, iy + 1] * fy
        high = h[ix + 1, iy] * (1 - fy) + h[ix + 1, iy + 1] * fy
        return low * (1 - fx) + high * fx

    def scan(self, base_pos: torch.Tensor, base_quat: torch.Tensor) -> torch.Tensor:
        """(num_envs, num_points) ground heights at the scan points, turned with the base's yaw (wxyz quaternions)."""
        yaw_quat = base_quat.clone()
        yaw_quat[:, 1:3] = 0.0  # keep w and z: the heading alone
        yaw_quat = yaw_quat / torch.linalg.vector_norm(yaw_quat, dim=1, keepdim=True)
        n, p = base_quat.shape[0], self.num_points
        world = quat_rotate(yaw_quat[:, None, :].expand(n, p, 4), self.points.expand(n, p, 3))
        return self.ground_height(world[..., :2] + base_pos[:, None, :2])
