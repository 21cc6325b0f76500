"""Checkpoints load with weights_only=True and an allow-list; their names are canonical, one file per epoch."""

import os
import pathlib

import numpy as np
import pytest
import torch
from conftest import run_train
from rl_games.algos_torch import torch_ext
from rl_games.algos_torch.a2c_continuous import A2CAgent
from rl_games.algos_torch.players import PpoPlayerContinuous, PpoPlayerDiscrete

from isaac_rl.rlgames import launch
from isaac_rl.rlgames.agents import SafeA2CAgent, SafeDiscreteA2CAgent
from isaac_rl.rlgames.amp.agent import AMPAgent
from isaac_rl.rlgames.amp.player import AMPPlayer
from isaac_rl.rlgames.checkpoint import SafeCheckpointMixin, canonical_checkpoint_path, load_checkpoint, prune_checkpoints

REFUSED = r"refused: it needs .* not on the allow-list, and loading it would run code from the file; nothing of it was loaded\. Accepted: .*numpy\.dtype"


class _Touch:
    """Unpickling this creates a file."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


class _System:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _crafted(tmp_path: pathlib.Path, payload=_Touch, zip_format: bool = True) -> tuple[pathlib.Path, pathlib.Path]:
    """A checkpoint that looks like rl_games' and whose unpickling would create `target`."""
    target = tmp_path / "pwned"
    path = tmp_path / "crafted.pth"
    state = {"model": {"running_mean_std.running_mean": torch.zeros(4)}, "epoch": 1, "x": payload(target)}
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    return path, target


@pytest.mark.parametrize(
    "payload,zip_format,global_name",
    [(_Touch, True, "pathlib.Path"), (_System, True, "posix.system"), (_Touch, False, "getattr")],  # False: torch's legacy format
)
def test_a_crafted_checkpoint_is_refused_and_its_code_never_runs(tmp_path, payload, zip_format, global_name):
    path, target = _crafted(tmp_path, payload, zip_format)
    with pytest.raises(ValueError, match=REFUSED) as refusal:
        load_checkpoint(path)
    assert global_name in str(refusal.value)
    with pytest.raises(ValueError, match=REFUSED):
        launch.check_checkpoint(str(path), 4, 1)
    assert not target.exists()


def test_the_allow_list_is_exact(tmp_path):
    torch.save({"best": np.float64(1.0)}, tmp_path / "f64.pth")  # rl_games keeps float32 rewards, never float64
    with pytest.raises(ValueError, match=REFUSED + ".*Float32DType") as refusal:
        load_checkpoint(tmp_path / "f64.pth")
    assert "it needs numpy.dtypes.Float64DType," in str(refusal.value)


def test_every_rl_games_reader_refuses_it(tmp_path):
    path, target = _crafted(tmp_path)
    launch.build_runner(None)  # points rl_games' loader at the safe one

    class UserAgent(SafeCheckpointMixin, A2CAgent):
        pass

    # restore() loads before it touches the object, so objects without __init__ do
    for cls in (PpoPlayerContinuous, PpoPlayerDiscrete, AMPPlayer):
        with pytest.raises(ValueError, match=REFUSED):
            cls.restore(cls.__new__(cls), str(path))
    for cls in (SafeA2CAgent, SafeDiscreteA2CAgent, AMPAgent, UserAgent):
        with pytest.raises(ValueError, match=REFUSED):
            cls.restore(cls.__new__(cls), str(path))
    for reader in (torch_ext.load_checkpoint, torch_ext.safe_load):
        with pytest.raises(ValueError, match=REFUSED):
            reader(str(path))
    assert not target.exists()


def test_a_safe_agent_is_safe_also_outside_a_runner(tmp_path, monkeypatch):
    path, target = _crafted(tmp_path)

    def rl_games_loader(fn):  # stands for rl_games' own loader (weights_only=False): no launch.build_runner ran
        raise AssertionError("rl_games' unsafe loader was used")

    monkeypatch.setattr(torch_ext, "load_checkpoint", rl_games_loader)
    with pytest.raises(ValueError, match=REFUSED):
        SafeA2CAgent.restore(SafeA2CAgent.__new__(SafeA2CAgent), str(path))
    assert not target.exists()


def test_playing_a_crafted_checkpoint_exits_with_the_refusal_and_creates_nothing(tmp_path):
    path, target = _crafted(tmp_path)
    # a gymnasium task has no early checkpoint check: rl_games' player restore() meets the file
    result = run_train(
        "task=GymEnv", "task.env.gym_id=CartPole-v1", "train=GymEnvDiscretePPO", "test=True", f"checkpoint={path}",
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"checkpoint '{path}' refused: it needs builtins.getattr, pathlib.Path" in result.stderr
    assert not target.exists()


def _agent(epoch: int, seed: int = 0) -> SafeA2CAgent:
    """A SafeA2CAgent holding trained-looking state and no env: rl_games' own get/set_full_state_weights run on it."""
    agent = SafeA2CAgent.__new__(SafeA2CAgent)
    torch.manual_seed(seed)
    agent.model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    agent.optimizer = torch.optim.Adam(agent.model.parameters(), lr=3e-4 * (seed + 1))
    agent.model(torch.randn(5, 4)).sum().backward()
    agent.optimizer.step()  # the optimizer's state holds tensors and a step count
    agent.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**seed)
    agent.__dict__.update(
        config={"keep_checkpoints": 2}, epoch_num=epoch, frame=4096 * epoch, vec_env=None,
        last_mean_rewards=np.float32(492.96848),  # the type training leaves there (rl_games' reward meter)
        mixed_precision=True, has_central_value=False, normalize_input=False, normalize_value=False,
        normalize_rms_advantage=False,
    )  # fmt: skip
    return agent


def test_a_saved_agent_state_round_trips(tmp_path):
    saved = _agent(epoch=7)
    saved.save(str(tmp_path / "X"))
    restored = _agent(epoch=0, seed=1)
    restored.restore(str(tmp_path / "X.pth"))
    assert (restored.epoch_num, restored.frame) == (7, 7 * 4096)
    assert restored.last_mean_rewards == np.float32(492.96848) and restored.last_lr == pytest.approx(3e-4)
    torch.testing.assert_close(restored.model.state_dict(), saved.model.state_dict())
    torch.testing.assert_close(restored.optimizer.state_dict()["state"], saved.optimizer.state_dict()["state"])
    assert restored.scaler.state_dict() == saved.scaler.state_dict()


def test_compiled_model_weights_load_under_their_plain_names(tmp_path):
    torch.save({"model": {"_orig_mod.a2c_network.mu.weight": torch.ones(1, 4)}, "epoch": 1}, tmp_path / "c.pth")
    assert list(load_checkpoint(tmp_path / "c.pth")["model"]) == ["a2c_network.mu.weight"]


@pytest.mark.parametrize(
    "fn,name",
    [
        ("last_X_ep_100_rew_492.96848", "last_X_ep_100_rew_492.97.pth"),  # periodic
        ("last_X_ep_100_rew__492.96848_", "last_X_ep_100_rew_492.97.pth"),  # final: a printed array
        ("last_X_ep_3_rew_-0.004", "last_X_ep_3_rew_-0.00.pth"),
        ("last_X_ep_3_rew_-inf", "last_X_ep_3.pth"),  # no episode ended yet
        ("last_X_frame_4096_rew__-inf_", "last_X_frame_4096.pth"),
        ("last_X_frame_4096_rew__1.5 2.0_", "last_X_frame_4096_rew_1.50.pth"),  # several values: the first
        ("X_ep_5_rew_20001.234", "X_ep_5_rew_20001.23.pth"),  # score_to_win reached
        ("X", "X.pth"),  # the best
    ],
)
def test_checkpoint_names_are_canonical(fn, name):
    assert canonical_checkpoint_path(os.path.join("runs", "nn", fn)) == os.path.join("runs", "nn", name)


def test_the_last_epoch_writes_one_checkpoint_and_pruning_keeps_the_newest(tmp_path):
    agent = _agent(epoch=1)
    for epoch in range(1, 5):
        agent.epoch_num = epoch
        agent.save(str(tmp_path / f"last_X_ep_{epoch}_rew_{epoch}.123456"))  # periodic
        os.utime(tmp_path / f"last_X_ep_{epoch}_rew_{epoch}.12.pth", ns=(epoch * 10**9, epoch * 10**9))
    agent.save(str(tmp_path / "X"))  # best
    written = (tmp_path / "last_X_ep_4_rew_4.12.pth").stat().st_mtime_ns
    agent.save(str(tmp_path / "last_X_ep_4_rew__4.123456_"))  # the max-epochs save, same epoch and state
    assert (tmp_path / "last_X_ep_4_rew_4.12.pth").stat().st_mtime_ns == written  # not written again
    # keep_checkpoints=2: the two newest periodic ones, and the best
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.pth", "last_X_ep_3_rew_3.12.pth", "last_X_ep_4_rew_4.12.pth"]
    agent.epoch_num = 5
    agent.save(str(tmp_path / "last_X_ep_5_rew_-inf"))
    assert prune_checkpoints(tmp_path, keep=2) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.pth", "last_X_ep_4_rew_4.12.pth", "last_X_ep_5.pth"]
