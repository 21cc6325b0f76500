"""headless=False: MuJoCo's viewer where a display is; one line and headless where none is."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from isaac_rl import tasks
from isaac_rl.utils.config import compose_config


def build(headless: bool):
    cfg = compose_config(["task=Cartpole", "num_envs=2", "sim_device=cpu", "rl_device=cpu"])
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    return tasks.make("Cartpole", cfg=task_cfg, rl_device="cpu", sim_device="cpu", graphics_device_id=0, headless=headless)


def test_without_a_display_the_task_says_so_once_and_runs_headless(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    env = build(headless=False)
    assert env.viewer is None
    env.reset()
    env.step(torch.zeros(2, 1))
    assert capsys.readouterr().out.count("headless=False: no display (DISPLAY and WAYLAND_DISPLAY are not set); running headless") == 1


# In a child process: Xlib ends whatever process holds a connection when the X server goes away.
ON_A_DISPLAY = """
import time, torch
from test_viewer import build
env = build(headless=False)
assert env.viewer is not None and env.viewer.is_running
env.reset()
for _ in range(5):
    env.step(torch.ones(2, 1))
    time.sleep(env.viewer.min_interval)
# the viewer's copy is env 0's state after the last update
assert abs(env.viewer.data.qpos - env.sim.qpos[0].numpy()).max() < 1e-6
env.viewer.close()
print("viewer followed env 0")
"""


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb for a display")
def test_on_a_display_the_viewer_opens_on_env_0_and_follows_the_steps(tmp_path):
    display = ":97"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
        env.update(DISPLAY=display, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")]))
        child = subprocess.run([sys.executable, "-c", ON_A_DISPLAY], env=env, capture_output=True, text=True, timeout=120)
        assert child.returncode == 0 and "viewer followed env 0" in child.stdout, child.stderr[-2000:]
    finally:
        server.terminate()
        server.wait()
