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
- observers get the done mask (a bool tensor, valid until the next env
  step) instead of done indices;
- on CUDA (`params.config.cuda_graphs`, default on, also under multi_gpu
  with NCCL's gradient all-reduce inside) the rollout's work around each
  env step (the policy, buffer writes, reward bookkeeping) is recorded as
  two CUDA graphs (the actions' N(0, 1) draw stays outside them, so that
  recorded and eager runs draw the same numbers), and the whole update
  (GAE, dataset preparation, every mini-epoch's minibatch steps: forward,
  losses, backward, gradient clipping, Adam, the adaptive rate) as one: a
  few launches where there were thousands of small kernels, each launched
  by Python. rl_games' `torch_compile` key also fuses the rollout
  bookkeeping and the losses; its `mixed_precision` (bf16 autocast and a
  GradScaler) is recorded too: fused Adam takes the scaler's inf flag as a
  tensor, so skipping a step never waits on the host.

It runs one sync per epoch, for the log. `ISAAC_RL_CHECK_SYNCS=1` makes any
other host sync inside an epoch (from the third on: the first ones compile
and record) raise, through torch.cuda.set_sync_debug_mode.

An asymmetric critic (`central_value_config`, e.g. ShadowHandOpenAI_FF) is
rl_games' CentralValueTrain, run the same way: its values on the env's
`states` in the rollout graph, its mini-epochs inside the recorded update,
before the actor's as rl_games orders them, with Adam fused and its rate on
the device.

Selected by `params.algo.name: a2c_continuous` (the shipped train configs);
`a2c_continuous_stock` is rl_games' own agent, kept for comparison. Without
CUDA, `multi_gpu` ranks average over a gloo group (isaac_rl/rlgames/distributed.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from rl_games.algos_torch.models import ModelA2CContinuousLogStd
from rl_games.algos_torch.running_mean_std import RunningMeanStd
from rl_games.common import a2c_common, schedulers
from rl_games.common.a2c_common import swap_and_flatten01

from isaac_rl.rlgames.agents import SafeA2CAgent
from isaac_rl.utils.graph_capture import no_collection_while_capturing
from isaac_rl.utils.startup_timer import mark


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


class SampleWithoutHostSync:
    """rl_games' Gaussian policy, its actions drawn as N(0, 1) * sigma + mu.

    torch.distributions.Normal.sample (torch.normal with a tensor of standard
    deviations) checks on the host that they are >= 0: a sync every env step.
    The draw made here is the one torch.normal makes (it fills N(0, 1) and
    scales it the same way), so the actions are the same numbers. The
    N(0, 1) draw may come in as `input_dict["noise"]` (the rollout's recorded
    graph takes it as an input rather than drawing inside the graph).
    """

    def forward(self, input_dict: dict) -> dict:
        if input_dict.get("is_train", True):
            return super().forward(input_dict)
        input_dict["obs"] = self.norm_obs(input_dict["obs"])
        mu, logstd, value, states = self.a2c_network(input_dict)
        sigma = torch.exp(logstd)
        noise = input_dict.get("noise")
        actions = (torch.randn_like(mu) if noise is None else noise.clone()).mul_(sigma).add_(mu)
        return {
            "neglogpacs": torch.squeeze(self.neglogp(actions, mu, sigma, logstd)),
            "values": self.denorm_value(value),
            "actions": actions,
            "rnn_states": states,
            "mus": mu,
            "sigmas": sigma,
        }


def sample_without_host_sync(model: torch.nn.Module) -> None:
    """Give `model` (rl_games' Gaussian policy network or a subclass, e.g. AMP's) SampleWithoutHostSync's sampling."""
    model = getattr(model, "_orig_mod", model)  # under torch.compile
    cls = type(model)
    if issubclass(cls, ModelA2CContinuousLogStd.Network) and not issubclass(cls, SampleWithoutHostSync):
        model.__class__ = type(cls.__name__, (SampleWithoutHostSync, cls), {"__module__": cls.__module__})


def is_running_mean_std(module: torch.nn.Module) -> bool:
    """rl_games' RunningMeanStd, also as the TorchScript module its models make of it (no longer an instance of it)."""
    return isinstance(module, RunningMeanStd) or getattr(module, "original_name", None) == RunningMeanStd.__name__


class CudaGraphed:
    """`fn(**inputs)`, run eagerly for its first `warm_up` calls, then recorded once as a CUDA graph and replayed.

    Each call copies its tensor arguments into the graph's own input tensors
    (their shapes must not change). `fn` may read other state only where it
    stays at the same address (parameters, optimizer state, buffers kept in
    place); what it returns is overwritten by the next call. The warm-up calls
    run on a side stream, as torch.cuda.graphs asks: lazy initialisations
    (cuBLAS workspaces, Adam's state) happen before the recording.
    Recording runs no kernels, so the recording call replays the graph too.
    """

    def __init__(self, fn: Callable[..., Any], device: torch.device, warm_up: int = 3) -> None:
        self.fn = fn
        self.warm_up_left = warm_up
        self.stream = torch.cuda.Stream(device)
        self.inputs: dict[str, torch.Tensor] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: Any = None

    def __call__(self, **inputs: torch.Tensor) -> Any:
        if self.inputs is None:
            self.inputs = {name: value.clone() for name, value in inputs.items()}
        else:
            for name, value in inputs.items():
                self.inputs[name].copy_(value)
        if self.warm_up_left > 0:
            self.warm_up_left -= 1
            current = torch.cuda.current_stream(self.stream.device)
            self.stream.wait_stream(current)
            with torch.cuda.stream(self.stream):
                outputs = self.fn(**self.inputs)
            current.wait_stream(self.stream)
            return outputs
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            # thread-local: under multi_gpu NCCL's own threads make CUDA calls while this thread records
            with no_collection_while_capturing(), torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self.outputs = self.fn(**self.inputs)
        self.graph.replay()
        return self.outputs

    def release(self) -> None:
        """Free the recorded graph (the next call records anew). A graph holding NCCL collectives must go before the
        process group: destroy_process_group waits for it otherwise (seen hanging on 2 x H200)."""
        self.graph, self.outputs = None, None


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
        central_value_beyond = self.has_central_value and (self.central_value_net.is_rnn or self.multi_gpu or cpu_ranks)
        if self.num_agents != 1 or self.is_rnn or central_value_beyond:
            raise ValueError(
                f"{self.config.get('name', 'this run')}: isaac_rl's agents handle one agent per env, feed-forward networks and "
                "a feed-forward central value on one GPU; a2c_continuous_stock (rl_games' own agent) takes the rest"
            )
        sample_without_host_sync(self.model)
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
        if self.has_central_value:
            # the same for the critic: its rate (rl_games schedules it linearly or not at all) on the device
            critic = self.central_value_net
            self.critic_lr = torch.tensor(float(critic.lr), dtype=torch.float32, device=self.ppo_device)
            critic.optimizer = torch.optim.Adam(
                critic.model.parameters(), lr=self.critic_lr, eps=1e-08, weight_decay=critic.weight_decay, fused=True, capturable=on_cuda
            )
        # rl_games' normalisers assign new tensors to their buffers when they learn; recorded graphs read the ones
        # they were recorded with, so the new values are copied back into those (_keep_buffers_in_place)
        networks = [self.model] + ([self.central_value_net.model] if self.has_central_value else [])
        self._pinned_buffers = [
            (module, name, buffer)
            for network in networks for module in network.modules() if is_running_mean_std(module)
            for name, buffer in module.named_buffers(recurse=False)
        ]  # fmt: skip
        self._rollout_index = torch.zeros(1, dtype=torch.long, device=self.ppo_device)  # the env step of the rollout
        self._no_time_outs = torch.zeros(self.num_actors, device=self.ppo_device)
        self._action_noise_shape = (self.num_actors, self.actions_num)
        self._policy_step: Callable[..., dict] = self._act
        self._bookkeeping_step: Callable[..., torch.Tensor] = self._record_step
        fusable = on_cuda and not isinstance(self.obs_shape, dict)
        # rl_games' key: its runner compiles the model; the bookkeeping around it and the losses are fused here, with
        # or without the graphs (which already remove the launch overhead, so the default mode)
        compiled = fusable and bool(self.config.get("torch_compile", False))
        if compiled:
            self._policy_step = torch.compile(self._policy_step, dynamic=False)
            self._bookkeeping_step = torch.compile(self._bookkeeping_step, dynamic=False)
        # a linear schedule of the entropy coefficient changes a Python float that compiled or recorded losses would keep
        entropy_scheduled = getattr(self.scheduler, "apply_to_entropy", False)
        if compiled and not entropy_scheduled:
            self.calc_losses = torch.compile(self.calc_losses, dynamic=False)
        graphs = fusable and self.config.get("cuda_graphs", True)
        if graphs:
            device = torch.device(self.ppo_device)
            self._policy_step, self._bookkeeping_step = CudaGraphed(self._policy_step, device), CudaGraphed(self._bookkeeping_step, device)
        self.graph_update = graphs and not entropy_scheduled
        self._update_step: Callable[..., tuple] = self._learn
        if self.graph_update:
            self._update_step = CudaGraphed(self._learn, device)
        mark("agent built")

    def _join_gloo_group(self) -> None:
        """What rl_games' multi-GPU set-up does, on the CPU: ranks from torchrun, a gloo group, stats from rank 0."""
        self.multi_gpu = self.config["multi_gpu"] = True
        self.local_rank, self.global_rank = int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"])
        self.world_size = int(os.environ["WORLD_SIZE"])
        torch.distributed.init_process_group("gloo", rank=self.global_rank, world_size=self.world_size)
        if self.global_rank != 0:
            self.print_stats = False

    def train(self):
        cpu_ranks = self.multi_gpu and not torch.cuda.is_available()
        set_device = torch.cuda.set_device
        if cpu_ranks:
            # rl_games' train() binds cuda:LOCAL_RANK under multi_gpu; CPU ranks have no GPU to bind
            torch.cuda.set_device = lambda device: None
        try:
            return super().train()
        finally:
            torch.cuda.set_device = set_device
            for step in (self._policy_step, self._bookkeeping_step, self._update_step):
                if isinstance(step, CudaGraphed):
                    step.release()

    # -- checkpoints: a plain float learning rate, so that either agent resumes either's files --
    def get_full_state_weights(self) -> dict:
        state = super().get_full_state_weights()
        for optimizer in ("optimizer", "assymetric_vf_optimizer"):
            for group in state.get(optimizer, {}).get("param_groups", []):
                group["lr"] = float(group["lr"])
        return state

    def restore(self, fn: str, set_epoch: bool = True) -> None:
        super().restore(fn, set_epoch=set_epoch)  # sets last_lr from the file's optimizer state
        self.lr.fill_(self.last_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        if self.has_central_value:
            self.critic_lr.fill_(float(self.central_value_net.optimizer.param_groups[0]["lr"]))
            for group in self.central_value_net.optimizer.param_groups:
                group["lr"] = self.critic_lr

    # -- the learning rate -------------------------------------------------------
    def update_lr(self, lr) -> None:
        # fill_ with a number launches a kernel; copying a host tensor in would wait for the GPU
        self.lr.fill_(float(lr))

    def _adapt_lr(self, kl: torch.Tensor) -> None:
        """rl_games' AdaptiveScheduler on the device: /1.5 above twice the KL threshold, x1.5 below half of it."""
        s = self.scheduler
        lr = torch.where(kl > 2.0 * s.kl_threshold, torch.clamp(self.lr / 1.5, min=s.min_lr), self.lr)
        self.lr.copy_(torch.where(kl < 0.5 * s.kl_threshold, torch.clamp(self.lr * 1.5, max=s.max_lr), lr))

    def _schedule(self, kl: torch.Tensor) -> None:
        """Where rl_games calls its scheduler with the KL (each mini-epoch or minibatch): the adaptive rate moves here."""
        if self.adaptive_lr:
            self._adapt_lr(kl)
        if self.multi_gpu:
            # rl_games schedules on rank 0 alone (the others get no scheduler) and hands its rate to all
            torch.distributed.broadcast(self.lr, 0)

    def _schedule_epoch(self) -> None:
        """Schedules that do not read the KL (linear, identity) give one rate per epoch: set it before the update."""
        if not self.adaptive_lr:
            self.last_lr, self.entropy_coef = self.scheduler.update(self.last_lr, self.entropy_coef, self.epoch_num, self.frame, None)
            self.update_lr(self.last_lr)

    # -- collection --------------------------------------------------------------
    def play_steps(self) -> dict:
        """The rollout's env steps into the experience buffer; the returns (GAE) are computed by the update (`_learn`)."""
        self._keep_buffers_in_place()
        self._rollout_index.zero_()
        step_time = 0.0
        for _ in range(self.horizon_length):
            # drawn between env steps, as rl_games' agent draws its actions (the env's resets draw from the same generator)
            noise = torch.randn(self._action_noise_shape, device=self.ppo_device)
            policy = self._policy_step(obs=self.obs["obs"], dones=self.dones, noise=noise, **self._critic_inputs())
            started = time.perf_counter()
            self.obs, rewards, self.dones, infos = self.env_step(policy["actions"])
            step_time += time.perf_counter() - started
            time_outs = infos.get("time_outs") if self.value_bootstrap else None
            time_outs = self._no_time_outs if time_outs is None else time_outs
            done = self._bookkeeping_step(rewards=rewards, dones=self.dones, values=policy["values"], time_outs=time_outs)
            self.algo_observer.process_infos(infos, done)
        return {"played_frames": self.batch_size, "step_time": step_time}

    def _critic_inputs(self) -> dict[str, torch.Tensor]:
        """What the central value reads besides the policy's inputs: the env's `states` (nothing without one)."""
        return {"states": self.obs["states"]} if self.has_central_value else {}

    def _act(self, obs: torch.Tensor, dones: torch.Tensor, noise: torch.Tensor, states: torch.Tensor | None = None) -> dict:
        """The policy on `obs` (actions mu + sigma * `noise`), the values of the central value on `states` where there is
        one; the step's observations (and states), dones and policy outputs go into the experience buffer."""
        self.model.eval()
        res_dict = self.model({"is_train": False, "prev_actions": None, "obs": self._preproc_obs(obs), "noise": noise})
        recorded = [("obses", obs), ("dones", dones)]
        if states is not None:
            res_dict["values"] = self.get_central_value({"is_train": False, "states": states})
            recorded.append(("states", states))
        buffers, index = self.experience_buffer.tensor_dict, self._rollout_index
        for name, value in (*recorded, *((k, res_dict[k]) for k in self.update_list)):
            buffers[name].index_copy_(0, index, value.to(buffers[name].dtype).unsqueeze(0))
        return {"actions": res_dict["actions"], "values": res_dict["values"]}

    def _record_step(self, rewards: torch.Tensor, dones: torch.Tensor, values: torch.Tensor, time_outs: torch.Tensor) -> torch.Tensor:
        """Rewards into the buffer (bootstrapped on time-outs), episode statistics; the done mask out."""
        shaped_rewards = self.rewards_shaper(rewards)
        if self.value_bootstrap:
            shaped_rewards = shaped_rewards + self.gamma * values * time_outs.to(values.device).unsqueeze(1).float()
        self.experience_buffer.tensor_dict["rewards"].index_copy_(0, self._rollout_index, shaped_rewards.unsqueeze(0))
        self._rollout_index.add_(1)

        self.current_rewards.add_(rewards)
        self.current_shaped_rewards.add_(shaped_rewards)
        self.current_lengths.add_(1)
        done = dones.bool()
        self.game_rewards.update_masked(self.current_rewards, done)
        self.game_shaped_rewards.update_masked(self.current_shaped_rewards, done)
        self.game_lengths.update_masked(self.current_lengths, done)
        not_done = (~done).float().unsqueeze(1)
        self.current_rewards.mul_(not_done)
        self.current_shaped_rewards.mul_(not_done)
        self.current_lengths.mul_(not_done.squeeze(1))
        return done

    def _keep_buffers_in_place(self) -> None:
        for module, name, buffer in self._pinned_buffers:
            current = getattr(module, name)
            if current is not buffer:
                buffer.copy_(current)
                setattr(module, name, buffer)

    # -- the update ----------------------------------------------------------------
    def train_epoch(self):
        a2c_common.A2CBase.train_epoch(self)
        check = os.environ.get("ISAAC_RL_CHECK_SYNCS") == "1" and torch.device(self.ppo_device).type == "cuda" and self.epoch_num > 2
        started = time.perf_counter()
        with host_syncs_raise(check):
            result = self._epoch()
        self.last_lr = float(self.lr.item())  # the epoch's one sync, for the log and checkpoints
        if self.has_central_value and self.central_value_net.writter is not None:
            self.central_value_net.writter.add_scalar("losses/cval_loss", float(self._critic_loss), self.central_value_net.frame)
            self.central_value_net.writter.add_scalar("info/cval_lr", float(self.central_value_net.lr), self.central_value_net.frame)
        # the host ran ahead of the GPU inside the epoch: only after the sync do its clocks give the epoch's time
        # (the collection's share is then the time to launch it, the update's the rest)
        total_time = time.perf_counter() - started
        step_time, play_time, losses = result
        return (step_time, play_time, total_time - play_time, total_time, *losses, self.last_lr, 1.0)

    def _epoch(self) -> tuple:
        """Collection and update: no host sync in here."""
        self.set_eval()
        play_start = time.perf_counter()
        with torch.no_grad():
            played = self.play_steps()
        play_end = time.perf_counter()
        self.curr_frames = played["played_frames"]
        self.algo_observer.after_steps()
        self._schedule_epoch()
        inputs = {"obs": self.obs["obs"], "dones": self.dones, **self._critic_inputs()}
        if not self.has_central_value:
            # the policy's draw that rl_games makes when it asks for the last observations' values: same random stream
            # (with a central value it asks the critic alone, which draws nothing)
            inputs["noise"] = torch.randn(self._action_noise_shape, device=self.ppo_device)
        losses = self._update_step(**inputs)
        if self.graph_update:
            losses = tuple(x.clone() for x in losses)  # the next replay overwrites the graph's outputs
        if self.has_central_value:
            self._after_critic_update(losses[-1])
        # rl_games' train loop takes lists of per-minibatch (a, c, b losses, entropies) and per-mini-epoch (kls) values;
        # no bounds loss: an empty list, as it logs none then
        a_losses, c_losses, b_losses, entropies, kls = (list(x.unbind()) for x in losses[:5])
        if self.bounds_loss_coef is None:
            b_losses = []
        return played["step_time"], play_end - play_start, (a_losses, c_losses, b_losses, entropies, kls)

    def _learn(
        self, obs: torch.Tensor, dones: torch.Tensor, noise: torch.Tensor | None = None, states: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Returns (GAE) of the rollout in the experience buffer, then the central value's mini-epochs (if any) and every
        mini-epoch's minibatch steps, as rl_games' train_epoch runs them. Returns the stacked a, c, b losses and
        entropies (per minibatch), kls (per mini-epoch) and the central value's mean loss.

        With graphs on, the whole of it is one recorded CUDA graph: a thousand or more small kernels, launched at once.
        Python that rl_games' minibatch step runs for its side effects alone (rl_games' diagnostics) then runs once, when
        it is recorded.
        """
        with torch.no_grad():
            self.prepare_dataset(self._rollout_batch(obs, dones, noise, states))
        critic_loss = self._train_central_value() if self.has_central_value else torch.zeros((), device=self.ppo_device)
        a_losses, c_losses, b_losses, entropies, kls = [], [], [], [], []
        for _ in range(self.mini_epochs_num):
            epoch_kls = []
            for i in range(len(self.dataset)):
                self.set_train()
                self.calc_gradients(self.dataset[i])
                a_loss, c_loss, entropy, kl, _, _, cmu, csigma, b_loss = self.train_result
                # detached, and train_result dropped: a logged loss would otherwise keep the minibatch's autograd graph
                # alive into the next epoch, which then records its graph on another stream than the one that built it
                self.train_result = None
                a_losses.append(a_loss.detach())
                c_losses.append(c_loss.detach())
                entropies.append(entropy.detach())
                b_losses.append(b_loss.detach() if self.bounds_loss_coef is not None else torch.zeros_like(a_losses[-1]))
                epoch_kls.append(kl.detach())
                self.dataset.update_mu_sigma(cmu, csigma)
                if self.schedule_type == "legacy":
                    self._schedule(self._mean_over_ranks(kl))
            mean_kl = self._mean_over_ranks(torch.stack(epoch_kls).mean())
            if self.schedule_type == "standard":
                self._schedule(mean_kl)
            kls.append(mean_kl)
            if self.normalize_input:
                # as rl_games does; the set_train() before the next minibatch switches it back on, so the statistics
                # learn in every minibatch step: rl_games' behaviour, kept
                self.model.running_mean_std.eval()
        self._keep_buffers_in_place()
        losses = tuple(torch.stack([x.reshape(()) for x in values]) for values in (a_losses, c_losses, b_losses, entropies, kls))
        return (*losses, critic_loss)

    def _train_central_value(self) -> torch.Tensor:
        """rl_games' CentralValueTrain.train_net without its per-minibatch `loss.item()`; returns the mean loss."""
        critic = self.central_value_net
        losses = []
        for _ in range(critic.mini_epoch):
            for i in range(len(critic.dataset)):
                critic.train()
                with torch.autocast(torch.device(self.ppo_device).type, enabled=critic.mixed_precision):
                    losses.append(critic.calc_gradients(critic.dataset[i]).detach().reshape(()))
            if critic.normalize_input:
                critic.model.running_mean_std.eval()
        return torch.stack(losses).mean()

    def _after_critic_update(self, loss: torch.Tensor) -> None:
        """The central value's bookkeeping after its update, on the host as rl_games does it (the schedule is linear or
        none), and its loss for tensorboard (read at the epoch's sync)."""
        critic = self.central_value_net
        critic.epoch_num += 1
        critic.lr, _ = critic.scheduler.update(critic.lr, 0, critic.epoch_num, 0, 0)
        self.critic_lr.fill_(float(critic.lr))
        critic.frame += critic.batch_size
        self._critic_loss = loss

    def _rollout_batch(
        self, obs: torch.Tensor, dones: torch.Tensor, noise: torch.Tensor | None, states: torch.Tensor | None
    ) -> dict:
        """The experience buffer flattened to (horizon x envs, ...), with returns from GAE bootstrapped by the values of
        the observations `obs` (`states` for a central value) after the last step (`dones`: the envs that ended there).
        `noise`: the action draw the policy makes there (unused), as rl_games' agent makes it."""
        if states is not None:
            last_values = self.get_central_value({"is_train": False, "states": states, "actions": None})
        else:
            self.model.eval()
            values_dict = {"is_train": False, "prev_actions": None, "obs": self._preproc_obs(obs), "noise": noise}
            last_values = self.model(values_dict)["values"]
        tensors = self.experience_buffer.tensor_dict
        advantages = self.discount_values(dones.float(), last_values, tensors["dones"].float(), tensors["values"], tensors["rewards"])
        batch = self.experience_buffer.get_transformed_list(swap_and_flatten01, self.tensor_list)
        batch["returns"] = swap_and_flatten01(advantages + tensors["values"])
        return batch

    def _mean_over_ranks(self, value: torch.Tensor) -> torch.Tensor:
        if self.multi_gpu:
            value = value.clone()
            torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.SUM)
            value /= self.world_size
        return value
