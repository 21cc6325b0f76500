"""isaac_rl tasks seen through other RL libraries' interfaces (above tasks/, beside rlgames/).

    from isaac_rl.envs import make_vec
    envs = make_vec("Ant", num_envs=4096, device="cuda:0")     # a gymnasium.vector.VectorEnv
"""

from isaac_rl.envs.gymnasium_vec import IsaacVectorEnv, make_vec

__all__ = ["IsaacVectorEnv", "make_vec"]
