"""isaac_rl: IsaacGym-style batched RL environments on MuJoCo, trained with rl_games."""

from setuptools import find_packages, setup

setup(
    name="isaac_rl",
    version="0.1.0",
    description="IsaacGym-style GPU-batched RL environments on MuJoCo Warp, trained with rl_games",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["isaac_rl", "isaac_rl.*"]),
    install_requires=[
        # weights-only checkpoint loading with an allow-list (torch.serialization.safe_globals)
        "torch>=2.6",
        "numpy>=1.26",
        # physics: the C library on cpu, MuJoCo Warp on CUDA (same MJCF)
        "mujoco==4.0.0",
        "mujoco-warp==4.0.0",
        "warp-lang==1.19.0",
        # training
        "rl-games==1.6.5",
        "gymnasium>=1.0",
        "tensorboard>=2.14",
        # configuration: hydra-core 1.3 breaks with omegaconf 2.4
        "hydra-core>=1.3,<1.4",
        "omegaconf>=2.3,<2.4",
    ],
    extras_require={
        # pytest-xdist: README's test command runs the suite in two processes (its tests are mostly subprocess runs)
        "test": ["pytest>=8", "pytest-xdist>=3.5"],
        # optional: wandb_activate=True mirrors the tensorboard scalars to Weights & Biases
        "wandb": ["wandb>=0.17"],
        # optional: capture_video=True writes mp4 clips (imageio-ffmpeg carries its own ffmpeg binary)
        "video": ["imageio-ffmpeg>=0.5"],
        # optional: scripts/export_policy.py writes ONNX and checks it with onnxruntime
        "export": ["onnx>=1.16", "onnxruntime>=1.18"],
        # optional: task=GymEnv task.env.rayWorkers=N steps gymnasium envs in Ray worker processes
        "ray": ["ray>=2.40"],
        # optional: examples/rllib/ trains isaac_rl tasks with RLlib through isaac_rl.envs.make_vec
        "rllib": ["ray[rllib]>=2.40"],
        # optional: trainer=rsl_rl trains with rsl_rl's PPO (pulls tensordict, GitPython, onnx, onnxscript); the extra is
        # named with a hyphen, as pip normalises extras (pip 23 ignores ".[rsl_rl]" against normalised metadata)
        "rsl-rl": ["rsl-rl-lib>=5.5,<6"],
        # optional: trainer=skrl trains with skrl's PPO
        "skrl": ["skrl>=2.1,<3"],
        # optional: task=ShadowHand reads OpenAI's Shadow Hand model from gymnasium-robotics' package files
        "hands": ["gymnasium-robotics>=1.4"],
    },
)
