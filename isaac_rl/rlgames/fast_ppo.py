"""PPO without host synchronisation inside an epoch: rl_games' continuous A2C agent with its syncs taken out.

rl_games' agent waits on the GPU several times per env step and per
minibatch: `dones.nonzero()` and indexing by the result for the episode
statistics every step, and `kl.item()` for the adaptive learning rate every
minibatch (or mini-epoch). Each wait drains the GPU's queue, so the Python
that launches the next kernels cannot run ahead of them. This agent keeps the
same algorithm (losses, normalisers, value bootstrap on time-outs, bounds
loss, schedules, checkpoints, observers) and moves that bookkeeping onto the
device:

- episode statistics: `DeviceAverageMeter` keeps rl_games' AverageMeter
  (a running mean over about the last `games_to_track` episodes) on the
  device and is updated from the done mask; it is read once per epoch;
- the adaptive learning rate is a tensor that Adam (fused) reads on the
  device, moved by the KL as rl_games' AdaptiveScheduler moves it;
- observers get the done mask (a bool tensor) instead of done indices;
- on CUDA (single GPU, `params.config.cuda_graph_update`, default on) each
  minibatch step (forward, losses, backward, gradient clipping, Adam) is
  rl_games' own `calc_gradients`, recorded once as a CUDA graph and replayed
  with the minibatch copied into its inputs: a few kernel launches instead of
  hundreds (two graphs: with the observation normaliser learning, in the
  first mini-epoch, and frozen).

It runs one sync per epoch, for the log. `ISAAC_RL_CHECK_SYNCS=1` makes any
other host sync inside an epoch (from the third on: the first ones compile
and record) raise, through torch.cuda.set_sync_debug_mode.

Selected by `params.algo.name: a2c_continuous` (the shipped train configs);
`a2c_continuous_stock` is rl_games' own agent, kept for comparison. Without
CUDA, `multi_gpu` ranks average over a gloo group (isaac_rl/rlgames/distributed.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from rl_games.algos_torch.running_mean_std import RunningMeanStd
from rl_games.common import a2c_common, schedulers
from rl_games.common.a2c_common import swap_and_flatten01

from isaac_rl.rlgames.agents import SafeA2CAgent


class DeviceAverageMeter(torch.nn.Module):
    """rl_games' AverageMeter (running mean over about the last `max_size` values), updated from a mask on the device."""

    def __init__(self, shape: tuple[int, ...], max_size: int, device: torch.device) -> None:
        super().__init__()
        self.max_size = max_size
        self.shape = shape
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float32, device=device))
        self.register_buffer("size", torch.zeros((), dtype=torch.float32, device=device))

    def update_masked(self, values: torch.Tensor, mask: torch.Tensor) -> None:
        """Fold in the rows of `values` ((n, *shape)) where `mask` is set, as AverageMeter.update(values[mask])."""
        values = values.float().reshape(mask.shape[0], *self.shape)
        weights = mask.float().reshape(-1, *([1] * len(self.shape)))
        count = weights.sum()
        new_mean = (values * weights).sum(dim=0) / count.clamp_min(1.0)
        size = count.clamp(max=self.max_size)
        old_size = torch.minimum(self.max_size - size, self.size)
        total = old_size + size
        updated = (self.mean * old_size + new_mean * size) / total.clamp_min(1.0)
        # no episode ended: nothing changes (AverageMeter returns early)
        self.mean.copy_(torch.where(count > 0, updated, self.mean))
        self.size.copy_(torch.where(count > 0, total, self.size))

    def clear(self) -> None:
        self.size.zero_()
        self.mean.zero_()

    @property
    def current_size(self) -> int:
        """Synchronises: read it once per epoch."""
        return int(self.size.item())

    def __len__(self) -> int:
        return self.current_size

    def get_mean(self):
        """As rl_games reads it: (value_size,) for rewards, a scalar for lengths."""
        return self.mean.cpu().numpy()


@contextmanager
def host_syncs_raise(active: bool) -> Iterator[None]:
    """Inside, a CUDA host sync raises (when `active`); see the module docstring."""
    if not active:
        yield
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


class GraphedMinibatchStep:
    """The agent's `calc_gradients` recorded as CUDA graphs and replayed on copies of each minibatch.

    The first `WARM_UP` calls run eagerly on a side stream (they are real
    training steps, and they create Adam's state and cuBLAS workspaces before
    recording); then one graph per normaliser mode is recorded and replayed.
    Recording runs no kernels, so the recording call replays its graph too.
    """

    WARM_UP = 3

    def __init__(self, agent: "FastA2CAgent") -> None:
        self.agent = agent
        self.inputs: dict[str, torch.Tensor] | None = None
        self.graphs: dict[bool, tuple[torch.cuda.CUDAGraph, tuple]] = {}
        self.warm_up_left = self.WARM_UP

    def __call__(self, minibatch: dict) -> tuple:
        agent = self.agent
        if self.inputs is None:
            self.inputs = {k: v.clone() for k, v in minibatch.items() if isinstance(v, torch.Tensor)}
        for key, value in self.inputs.items():
            value.copy_(minibatch[key])
        mode = bool(agent.normalize_input and agent.model.running_mean_std.training)
        if self.warm_up_left > 0:
            self.warm_up_left -= 1
            stream = torch.cuda.Stream(agent.ppo_device)
            stream.wait_stream(torch.cuda.current_stream(agent.ppo_device))
            with torch.cuda.stream(stream):
                agent.calc_gradients(self.inputs)
            torch.cuda.current_stream(agent.ppo_device).wait_stream(stream)
            return agent.train_result
        if mode not in self.graphs:
            self.graphs[mode] = self._record()
        graph, outputs = self.graphs[mode]
        graph.replay()
        return outputs

    def _record(self) -> tuple[torch.cuda.CUDAGraph, tuple]:
        agent = self.agent
        # rl_games' RunningMeanStd assigns new tensors to its buffers when it learns; a graph would keep reading
        # the ones it was recorded with, so the recording writes the new values back into those
        buffers = [(module, dict(module.named_buffers(recurse=False))) for module in agent.model.modules() if isinstance(module, RunningMeanStd)]
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            agent.calc_gradients(self.inputs)
            for module, originals in buffers:
                for name, original in originals.items():
                    current = getattr(module, name)
                    if current is not original:
                        original.copy_(current)
                        setattr(module, name, original)
        return graph, agent.train_result


class FastA2CAgent(SafeA2CAgent):
    """`a2c_continuous` without host synchronisation inside an epoch (see the module docstring)."""

    def __init__(self, base_name, params) -> None:
        config = params["config"]
        # rl_games would open an NCCL group and bind cuda:LOCAL_RANK; without CUDA the ranks join a gloo group instead
        cpu_ranks = bool(config.get("multi_gpu")) and not torch.cuda.is_available()
        if cpu_ranks:
            config["multi_gpu"] = False
        super().__init__(base_name, params)
        if cpu_ranks:
            self._join_gloo_group()
        if self.num_agents != 1 or self.is_rnn or self.has_central_value:
            raise ValueError(
                f"{self.config.get('name', 'this run')}: isaac_rl's agents handle one agent per env, feed-forward networks and "
                "no central value; a2c_continuous_stock (rl_games' own agent) takes the rest"
            )
        self.game_rewards = DeviceAverageMeter((self.value_size,), self.games_to_track, self.ppo_device)
        self.game_shaped_rewards = DeviceAverageMeter((self.value_size,), self.games_to_track, self.ppo_device)
        self.game_lengths = DeviceAverageMeter((), self.games_to_track, self.ppo_device)
        # the learning rate lives on the device, where Adam reads it
        self.lr = torch.tensor(float(self.last_lr), dtype=torch.float32, device=self.ppo_device)
        on_cuda = torch.device(self.ppo_device).type == "cuda"
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.lr, eps=1e-08, weight_decay=self.weight_decay, fused=True, capturable=on_cuda
        )
        self.adaptive_lr = isinstance(self.scheduler, schedulers.AdaptiveScheduler)
        graphs = on_cuda and not self.multi_gpu and not self.mixed_precision and self.config.get("cuda_graph_update", True)
        self.minibatch_step = GraphedMinibatchStep(self) if graphs else None

    def _join_gloo_group(self) -> None:
        """What rl_games' multi-GPU set-up does, on the CPU: ranks from torchrun, a gloo group, stats from rank 0."""
        self.multi_gpu = self.config["multi_gpu"] = True
        self.local_rank, self.global_rank = int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"])
        self.world_size = int(os.environ["WORLD_SIZE"])
        torch.distributed.init_process_group("gloo", rank=self.global_rank, world_size=self.world_size)
        if self.global_rank != 0:
            self.print_stats = False

    def train(self):
        if not (self.multi_gpu and not torch.cuda.is_available()):
            return super().train()
        # rl_games' train() binds cuda:LOCAL_RANK under multi_gpu; CPU ranks have no GPU to bind
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None
        try:
            return super().train()
        finally:
            torch.cuda.set_device = set_device

    # -- checkpoints: a plain float learning rate, so that either agent resumes either's files --
    def get_full_state_weights(self) -> dict:
        state = super().get_full_state_weights()
        for group in state["optimizer"]["param_groups"]:
            group["lr"] = float(group["lr"])
        return state

    def restore(self, fn: str, set_epoch: bool = True) -> None:
        super().restore(fn, set_epoch=set_epoch)  # sets last_lr from the file's optimizer state
        self.lr.fill_(self.last_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    # -- the learning rate -------------------------------------------------------
    def update_lr(self, lr) -> None:
        self.lr.copy_(torch.as_tensor(lr, dtype=torch.float32))

    def _adapt_lr(self, kl: torch.Tensor) -> None:
        """rl_games' AdaptiveScheduler on the device: /1.5 above twice the KL threshold, x1.5 below half of it."""
        s = self.scheduler
        lr = torch.where(kl > 2.0 * s.kl_threshold, torch.clamp(self.lr / 1.5, min=s.min_lr), self.lr)
        self.lr.copy_(torch.where(kl < 0.5 * s.kl_threshold, torch.clamp(self.lr * 1.5, max=s.max_lr), lr))

    def _schedule(self, kl: torch.Tensor) -> None:
        if self.adaptive_lr:
            self._adapt_lr(kl)
        else:  # linear and identity schedules do not read the KL: no sync
            self.last_lr, self.entropy_coef = self.scheduler.update(self.last_lr, self.entropy_coef, self.epoch_num, self.frame, None)
            self.update_lr(self.last_lr)
        if self.multi_gpu:
            # rl_games schedules on rank 0 alone (the others get no scheduler) and hands its rate to all
            torch.distributed.broadcast(self.lr, 0)

    # -- collection --------------------------------------------------------------
    def play_steps(self) -> dict:
        step_time = 0.0
        for n in range(self.horizon_length):
            res_dict = self.get_action_values(self.obs)
            self.experience_buffer.update_data("obses", n, self.obs["obs"])
            self.experience_buffer.update_data("dones", n, self.dones)
            for k in self.update_list:
                self.experience_buffer.update_data(k, n, res_dict[k])

            started = time.perf_counter()
            self.obs, rewards, self.dones, infos = self.env_step(res_dict["actions"])
            step_time += time.perf_counter() - started

            shaped_rewards = self.rewards_shaper(rewards)
            if self.value_bootstrap and "time_outs" in infos:
                shaped_rewards.add_(self.gamma * res_dict["values"] * self.cast_obs(infos["time_outs"]).unsqueeze(1).float())
            self.experience_buffer.update_data("rewards", n, shaped_rewards)

            self.current_rewards.add_(rewards)
            self.current_shaped_rewards.add_(shaped_rewards)
            self.current_lengths.add_(1)
            done = self.dones.bool()
            self.game_rewards.update_masked(self.current_rewards, done)
            self.game_shaped_rewards.update_masked(self.current_shaped_rewards, done)
            self.game_lengths.update_masked(self.current_lengths, done)
            self.algo_observer.process_infos(infos, done)

            not_done = (~done).float().unsqueeze(1)
            self.current_rewards.mul_(not_done)
            self.current_shaped_rewards.mul_(not_done)
            self.current_lengths.mul_(not_done.squeeze(1))

        last_values = self.get_values(self.obs)
        tensors = self.experience_buffer.tensor_dict
        advantages = self.discount_values(self.dones.float(), last_values, tensors["dones"].float(), tensors["values"], tensors["rewards"])
        batch_dict = self.experience_buffer.get_transformed_list(swap_and_flatten01, self.tensor_list)
        batch_dict["returns"] = swap_and_flatten01(advantages + tensors["values"])
        batch_dict["played_frames"] = self.batch_size
        batch_dict["step_time"] = step_time
        return batch_dict

    # -- the update ----------------------------------------------------------------
    def train_actor_critic(self, input_dict: dict):
        self.set_train()
        if self.minibatch_step is not None:
            # the graph's outputs are overwritten by the next replay: keep copies
            return tuple(x.clone() if isinstance(x, torch.Tensor) else x for x in self.minibatch_step(input_dict))
        self.calc_gradients(input_dict)
        return self.train_result

    def train_epoch(self):
        a2c_common.A2CBase.train_epoch(self)
        check = os.environ.get("ISAAC_RL_CHECK_SYNCS") == "1" and torch.device(self.ppo_device).type == "cuda" and self.epoch_num > 2
        with host_syncs_raise(check):
            result = self._epoch()
        self.last_lr = float(self.lr.item())  # the epoch's one sync, for the log and checkpoints
        return (*result[:9], self.last_lr, result[9])

    def _epoch(self) -> tuple:
        """Collection and update: no host sync in here."""
        self.set_eval()
        play_start = time.perf_counter()
        with torch.no_grad():
            batch_dict = self.play_steps()
        play_end = time.perf_counter()

        self.set_train()
        self.curr_frames = batch_dict.pop("played_frames")
        self.prepare_dataset(batch_dict)
        self.algo_observer.after_steps()
        a_losses, c_losses, b_losses, entropies, kls = [], [], [], [], []
        for _ in range(self.mini_epochs_num):
            epoch_kls = []
            for i in range(len(self.dataset)):
                a_loss, c_loss, entropy, kl, _, lr_mul, cmu, csigma, b_loss = self.train_actor_critic(self.dataset[i])
                a_losses.append(a_loss)
                c_losses.append(c_loss)
                entropies.append(entropy)
                epoch_kls.append(kl)
                if self.bounds_loss_coef is not None:
                    b_losses.append(b_loss)
                self.dataset.update_mu_sigma(cmu, csigma)
                if self.schedule_type == "legacy":
                    self._schedule(self._mean_over_ranks(kl))
            mean_kl = self._mean_over_ranks(torch.stack(epoch_kls).mean())
            if self.schedule_type == "standard":
                self._schedule(mean_kl)
            kls.append(mean_kl)
            if self.normalize_input:
                self.model.running_mean_std.eval()  # its statistics move once per epoch, as in rl_games
        update_end = time.perf_counter()
        return (
            batch_dict["step_time"], play_end - play_start, update_end - play_end, update_end - play_start,
            a_losses, c_losses, b_losses, entropies, kls, lr_mul,
        )  # fmt: skip

    def _mean_over_ranks(self, value: torch.Tensor) -> torch.Tensor:
        if self.multi_gpu:
            value = value.clone()
            torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.SUM)
            value /= self.world_size
        return value
