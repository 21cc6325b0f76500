"""A trained rl_games policy as a standalone file: ONNX and TorchScript.

The exported module takes raw observations (num, obs_dim) and returns the
deterministic action the rl_games player takes (the actor's mean, clipped to
the action space unless the train config's `clip_actions` is False): the
observation normaliser is inside, so a deployment needs nothing else. onnx
and onnxruntime are optional (`pip install -e ".[export]"`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf


class DeterministicActor(torch.nn.Module):
    """Observation normalisation, the actor, and rl_games players' action clipping, as one module."""

    def __init__(
        self, model: torch.nn.Module, num_observations: int, action_low: torch.Tensor, action_high: torch.Tensor, clip_actions: bool = True
    ) -> None:
        """`clip_actions`: the train config's (rl_games' default True); False hands the actor's mean on as it is,
        as the player does, and the task clips it at its clipActions."""
        super().__init__()
        self.clip_actions = clip_actions
        self.actor = model.a2c_network
        # rl_games' RunningMeanStd in eval mode, restated: it is a TorchScript module, which torch.jit.trace
        # cannot follow from inside another trace. The tests compare against the player's own actions.
        rms = model.running_mean_std if model.normalize_input else None
        if rms is not None and rms.norm_only:
            raise ValueError("an observation normaliser with norm_only=True is not supported for export")
        self.normalize = rms is not None
        self.register_buffer("obs_mean", rms.running_mean.float().cpu() if rms is not None else torch.zeros(num_observations))
        self.register_buffer("obs_std", torch.sqrt(rms.running_var.float().cpu() + rms.epsilon) if rms is not None else torch.ones(num_observations))
        self.register_buffer("action_low", action_low.float())
        self.register_buffer("action_high", action_high.float())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            observations = torch.clamp((observations - self.obs_mean) / self.obs_std, -5.0, 5.0)
        mu = self.actor({"obs": observations})[0]
        if not self.clip_actions:
            return mu
        # rl_games' players: rescale_actions(low, high, clamp(mu, -1, 1))
        return self.action_low + (torch.clamp(mu, -1.0, 1.0) + 1.0) * 0.5 * (self.action_high - self.action_low)


def actor_of(player) -> DeterministicActor:
    """The deterministic actor of a continuous-action rl_games player whose weights are loaded."""
    if not hasattr(player, "actions_low"):
        raise ValueError("only continuous-action policies export (the player has no action bounds)")
    player.model.eval()
    actor = DeterministicActor(player.model, player.obs_shape[0], player.actions_low.cpu(), player.actions_high.cpu(), player.clip_actions)
    return actor.cpu().eval()


def load_player(cfg: DictConfig, device: str = "cpu"):
    """(task, player): the composed run config's task with its envs on `device`, and an rl_games
    player with `cfg.checkpoint`'s weights, as test mode builds them."""
    from isaac_rl import tasks
    from isaac_rl.rlgames import extensions, launch

    extensions.load_extensions(cfg.extensions)
    if cfg.task.get("class_path"):
        tasks.register(cfg.task_name, cfg.task.class_path)
    task = tasks.resolve(cfg.task_name)(
        cfg=OmegaConf.to_container(cfg.task, resolve=True), rl_device=device, sim_device=device, graphics_device_id=0, headless=True
    )
    launch.check_checkpoint(cfg.checkpoint, task.num_observations, task.num_actions)
    train_cfg = OmegaConf.to_container(cfg.train, resolve=True)
    config = train_cfg["params"]["config"]
    config.update(device=device, device_name=device)
    config.setdefault("player", {})["use_vecenv"] = True
    runner = launch.build_runner(lambda **kwargs: task)
    runner.load(train_cfg)
    player = runner.create_player()
    player.restore(cfg.checkpoint)
    player.has_batch_dimension = True  # a task's observations are (num_envs, obs_dim): rl_games learns this only in run()
    return task, player


def export(actor: DeterministicActor, num_observations: int, out_dir: Path) -> tuple[Path, Path]:
    """Write `policy.onnx` and `policy.pt` (TorchScript) into `out_dir`; return their paths."""
    example = torch.zeros(1, num_observations)
    onnx_path, script_path = Path(out_dir) / "policy.onnx", Path(out_dir) / "policy.pt"
    with torch.no_grad():
        torch.jit.trace(actor, example).save(str(script_path))
        torch.onnx.export(
            actor, (example,), str(onnx_path), input_names=["obs"], output_names=["actions"],
            dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}}, dynamo=False,
        )  # fmt: skip
    return onnx_path, script_path


def max_differences(actor: DeterministicActor, onnx_path: Path, script_path: Path, observations: torch.Tensor) -> tuple[float, float]:
    """Largest |exported - torch| action over `observations`, for the ONNX file (onnxruntime) and TorchScript."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ValueError(f"checking the ONNX file needs onnxruntime ({error}): pip install -e \".[export]\"") from None
    with torch.no_grad():
        expected = actor(observations)
        scripted = torch.jit.load(str(script_path))(observations)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_actions = torch.from_numpy(session.run(["actions"], {"obs": observations.numpy()})[0])
    return float((onnx_actions - expected).abs().max()), float((scripted - expected).abs().max())


def sample_observations(actor: DeterministicActor, count: int = 256) -> torch.Tensor:
    """Observations spread like the training data: drawn around the normaliser's mean and spread."""
    generator = torch.Generator().manual_seed(0)
    return actor.obs_mean + actor.obs_std * torch.randn(count, actor.obs_mean.shape[0], generator=generator)
