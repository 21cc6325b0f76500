from isaac_rl.tasks.base.vec_task import VecTask

__all__ = ["VecTask"]
