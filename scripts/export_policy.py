"""Export a trained policy as ONNX and TorchScript, and check both against the torch policy.

    python scripts/export_policy.py task=Ant checkpoint=runs/Ant/<run>/nn/Ant.pth
    python scripts/export_policy.py task=HumanoidAMP checkpoint=runs/HumanoidAMP out=exported/
    python scripts/export_policy.py task=Anymal trainer=rsl_rl checkpoint=runs/Anymal_rsl_rl

`checkpoint=` takes a .pth file, a run directory or an experiment directory
(as scripts/evaluate.py); without it, the task's newest run's best checkpoint.

Writes policy.onnx and policy.pt beside the checkpoint (or into `out=DIR`):
raw observations (batch, obs_dim) in, the deterministic action out, with the
observation normaliser inside (HumanoidAMP: the actor only). Both files are
run on 256 observations drawn around the normaliser's statistics and compared
with the torch policy; the largest differences are printed. Beside them,
policy.json holds what a robot needs (observation terms and scales, action
scale and offset, joint names in action order, default joint positions, kp/kd,
control dt; isaac_rl/envs/deployment.py), also written into the ONNX file's
metadata_props. rsl_rl and skrl checkpoints (trainer=...) export the same way:
their normaliser and mean action, then the task's action clip. The last line of
output is the ONNX file's path. Needs `pip install -e ".[export]"`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from isaac_rl.rlgames.run_config import check_run_config, settle_run_files
from isaac_rl.utils.cli import exit_on_user_error, overrides_or_help
from isaac_rl.utils.config import compose_checked, compose_reference

TOLERANCE = 1e-4  # float32 arithmetic in another runtime, on actions in [-1, 1]


def main(argv: list[str]) -> Path:
    argv = overrides_or_help(argv, __doc__)
    out = next((arg.split("=", 1)[1] for arg in argv if arg.startswith("out=")), None)
    # one env on the cpu is enough to build the player; the user's own keys come first, ours win
    overrides = [arg for arg in argv if not arg.startswith("out=")]
    overrides += ["num_envs=1", "sim_device=cpu", "rl_device=cpu", "test=True"]
    cfg = compose_checked(overrides)
    check_run_config(cfg, compose_reference(overrides))
    settle_run_files(cfg)  # an empty checkpoint: the experiment's newest run
    if cfg.task.env.get("gym_id"):
        raise ValueError("gymnasium tasks (task.env.gym_id) are not exported; isaac_rl tasks are")
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
    except ImportError as error:
        raise ValueError(f"exporting needs onnx and onnxruntime ({error}): pip install -e \".[export]\"") from None

    from isaac_rl.envs.deployment import deployment_metadata, write_metadata
    from isaac_rl.rlgames.console import rl_games_output
    from isaac_rl.rlgames.export import actor_of, export, load_player, max_differences, sample_observations

    if cfg.trainer == "rl_games":
        with rl_games_output(cfg.verbose):
            task, player = load_player(cfg)
        actor = actor_of(player)
    else:
        from isaac_rl.trainers import common

        task = common.build_task(cfg, "cpu")
        actor = common.load_policy(cfg, task)
    out_dir = Path(out) if out else Path(cfg.checkpoint).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, script_path = export(actor, task.num_observations, out_dir)
    onnx_diff, script_diff = max_differences(actor, onnx_path, script_path, sample_observations(actor))
    print(f"max |action - torch action| over 256 observations: ONNX (onnxruntime) {onnx_diff:.2e}, TorchScript {script_diff:.2e}")
    if max(onnx_diff, script_diff) > TOLERANCE:
        raise RuntimeError(f"the exported policy differs from the torch policy by more than {TOLERANCE}")
    metadata_path = write_metadata(deployment_metadata(task, cfg.task_name, cfg.trainer, cfg.checkpoint), onnx_path)
    print(f"deployment metadata (also in the ONNX file's metadata_props): {metadata_path}")
    print(f"TorchScript: {script_path}")
    print(onnx_path)
    return onnx_path


if __name__ == "__main__":
    with exit_on_user_error():
        main(sys.argv[1:])
