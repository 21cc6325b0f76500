"""Train isaac_rl's Cartpole with RLlib's PPO, through the task's gymnasium VectorEnv view.

    pip install -e ".[rllib]"
    python examples/rllib/cartpole_ppo.py                      # until the mean return reaches 400
    python examples/rllib/cartpole_ppo.py --iterations 2       # a short run

RLlib's custom-env route: an env creator registered with `ray.tune` and
named in `config.environment(...)`. With `gym_env_vectorize_mode=
"vector_entry_point"` RLlib asks the creator for `num_envs` envs at once, and
`isaac_rl.envs.make_vec` gives it one batched task (numpy out, gymnasium's
NEXT_STEP autoreset) instead of that many single envs. Each iteration prints
RLlib's mean episode return; the last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import time

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.tune.registry import register_env

from isaac_rl.envs import make_vec

ENV_NAME = "isaac_rl_cartpole"


def make_env(env_config: dict):
    """RLlib's env creator: `num_envs` Cartpoles as one VectorEnv on the CPU."""
    return make_vec("Cartpole", num_envs=int(env_config.get("num_envs", 1)), device="cpu", as_numpy=True)


def ppo_config(num_envs: int, seed: int) -> PPOConfig:
    return (
        PPOConfig()
        .environment(ENV_NAME)
        # the driver steps the envs itself: one batched task needs no extra processes
        .env_runners(num_env_runners=0, num_envs_per_env_runner=num_envs, gym_env_vectorize_mode="vector_entry_point")
        .training(lr=3e-4, gamma=0.99, lambda_=0.95, train_batch_size_per_learner=4096, minibatch_size=512, num_epochs=8, vf_loss_coeff=0.01)
        .rl_module(model_config={"fcnet_hiddens": [32, 32], "fcnet_activation": "tanh"})
        .debugging(seed=seed)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=60, help="at most this many PPO iterations")
    parser.add_argument("--target", type=float, default=400.0, help="stop once the mean episode return reaches this")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ray.init(include_dashboard=False, log_to_driver=False)
    register_env(ENV_NAME, make_env)
    algo = ppo_config(args.num_envs, args.seed).build_algo()
    start, best, mean_return, iteration = time.perf_counter(), float("-inf"), float("nan"), 0
    try:
        for iteration in range(1, args.iterations + 1):
            result = algo.train()
            runners = result["env_runners"]
            mean_return = float(runners.get("episode_return_mean", float("nan")))
            best = max(best, mean_return) if mean_return == mean_return else best
            steps = int(runners.get("num_env_steps_sampled_lifetime", 0))
            print(f"iteration {iteration}: mean episode return {mean_return:.1f}, env steps {steps}, {time.perf_counter() - start:.0f}s", flush=True)
            if mean_return >= args.target:
                break
    finally:
        algo.stop()
        ray.shutdown()
    print(json.dumps({"iterations": iteration, "mean_return": mean_return, "best_mean_return": best, "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
