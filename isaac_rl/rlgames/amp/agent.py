"""Agent `amp_continuous`: rl_games' continuous PPO with an AMP discriminator and style reward.

Per epoch:
1. rollout (rl_games' `play_steps`): at each env step the reward becomes
   task_reward_w * task reward + disc_reward_w * style reward, the style
   reward coming from the discriminator on `extras['amp_obs']`, which is
   also recorded for the update. rl_games then treats that as the env's
   reward (reward_shaper, time-out bootstrap, GAE, episode returns, the
   best checkpoint);
2. the PPO minibatches also carry policy, replay and demo AMP observations,
   and the discriminator loss (times disc_coef) is added to the PPO loss, so
   one optimizer step trains policy, value and discriminator together;
3. a share of the rollout's AMP observations enters the replay buffer and
   fresh demo samples enter the demo buffer.

`AMPAgent` is built on isaac_rl's fast continuous agent
(isaac_rl/rlgames/fast_ppo.py: no host syncs inside an epoch, the rollout
and the whole update recorded as CUDA graphs). So that the update records,
everything in it keeps its state on the device: the replay and demo buffers
(isaac_rl/rlgames/amp/replay_buffer.py) and the discriminator's statistics
(`EpochMeans`, summed on the device and read once per epoch for the log).
`StockAMPAgent` (`amp_continuous_stock`) is the same on rl_games' own agent,
kept for comparison.

The discriminator and AMP normalizer are part of the model, so rl_games'
checkpoints carry them. The replay and demo buffers are not saved: a resumed
run refills them.
"""

from __future__ import annotations

import torch
from rl_games.common.a2c_common import swap_and_flatten01

from isaac_rl.rlgames.agents import SafeA2CAgent
from isaac_rl.rlgames.amp.config import AMPConfig
from isaac_rl.rlgames.amp.env_access import amp_task, create_env_first
from isaac_rl.rlgames.amp.losses import (
    combine_rewards,
    discriminator_accuracy,
    discriminator_loss,
    gradient_penalty,
    squared_weight_norm,
    style_reward,
)
from isaac_rl.rlgames.amp.model import ModelAMPContinuous, configure_amp_model
from isaac_rl.rlgames.amp.replay_buffer import AMPReplayBuffer
from isaac_rl.rlgames.fast_ppo import FastA2CAgent

# demo samples fetched per call while filling the demo buffer (bounds memory)
_DEMO_FETCH_CHUNK = 16384

ROLLOUT_STATS = ("style_reward", "task_reward")  # per env step
DISC_STATS = (  # per minibatch step
    "disc_loss", "disc_total_loss", "disc_grad_penalty", "disc_logit_reg", "disc_weight_decay",
    "disc_policy_acc", "disc_demo_acc", "disc_policy_logit", "disc_demo_logit",
)  # fmt: skip


class EpochMeans:
    """Means over an epoch of named scalars, summed on the device; `means()` reads them (one sync)."""

    def __init__(self, names: tuple[str, ...], device: torch.device | str) -> None:
        self.names = names
        self._sums = torch.zeros(len(names), device=device)
        self._count = torch.zeros((), device=device)

    def add(self, *values: torch.Tensor) -> None:
        """One scalar per name, in `names`' order."""
        self._sums.add_(torch.stack([v.detach().float().reshape(()) for v in values]))
        self._count.add_(1.0)

    def clear(self) -> None:
        self._sums.zero_()
        self._count.zero_()

    def means(self) -> dict[str, float]:
        """{} when nothing was added since the last clear."""
        sums_and_count = torch.cat((self._sums, self._count.unsqueeze(0))).tolist()
        count = sums_and_count[-1]
        return {name: total / count for name, total in zip(self.names, sums_and_count)} if count else {}


class AMPMixin:
    """The discriminator, its buffers and losses, on top of a continuous PPO agent of rl_games' shape."""

    def __init__(self, base_name: str, params: dict) -> None:
        config = params["config"]
        self.amp_config = AMPConfig.from_train_config(config)
        self._amp_obs_shape = tuple(create_env_first(config).shape)
        super().__init__(base_name, params)
        self._task = amp_task(self.vec_env)
        amp_dim = self._amp_obs_shape[0]
        cfg = self.amp_config
        self.demo_buffer = AMPReplayBuffer(cfg.amp_obs_demo_buffer_size, amp_dim, self.ppo_device)
        self.replay_buffer = AMPReplayBuffer(cfg.amp_replay_buffer_size, amp_dim, self.ppo_device)
        self._fill_demo_buffer()
        self._rollout_amp_obs = torch.zeros((self.horizon_length, self.num_actors, amp_dim), device=self.ppo_device)
        self._rollout_step = 0
        self._amp_minibatch: dict | None = None
        self._rollout_stats = EpochMeans(ROLLOUT_STATS, self.ppo_device)
        self._disc_stats = EpochMeans(DISC_STATS, self.ppo_device)

    # -- model ---------------------------------------------------------------
    def load_networks(self, params: dict) -> None:
        super().load_networks(params)
        configure_amp_model(self.config["network"], self._amp_obs_shape, self.amp_config.normalize_amp_input)

    @property
    def amp_model(self) -> ModelAMPContinuous.Network:
        """The model itself, also when rl_games wrapped it in torch.compile."""
        return getattr(self.model, "_orig_mod", self.model)

    # -- demo observations ---------------------------------------------------
    def _fetch_demo(self, num_samples: int) -> torch.Tensor:
        demo = self._task.fetch_amp_obs_demo(num_samples)
        return demo.to(self.ppo_device).reshape(num_samples, -1)

    def _fill_demo_buffer(self) -> None:
        remaining = self.demo_buffer.capacity
        while remaining > 0:
            n = min(remaining, _DEMO_FETCH_CHUNK)
            self.demo_buffer.store(self._fetch_demo(n))
            remaining -= n

    # -- rollout ---------------------------------------------------------------
    def play_steps(self):
        self._rollout_step = 0
        self._rollout_stats.clear()  # here, not in write_stats, which only rank 0 runs
        self._disc_stats.clear()
        return super().play_steps()

    def env_step(self, actions):
        obs, task_rewards, dones, infos = super().env_step(actions)
        if "amp_obs" not in infos:
            raise KeyError("the task must put the policy's AMP observations in extras['amp_obs'] every step")
        amp_obs = infos["amp_obs"]
        self._rollout_amp_obs[self._rollout_step] = amp_obs
        self._rollout_step += 1
        style = self.style_rewards(amp_obs)
        cfg = self.amp_config
        self._rollout_stats.add(style.mean(), task_rewards.mean())
        # rl_games takes it from here as the env's reward: shaping, time-out bootstrap, GAE and episode returns
        return obs, combine_rewards(task_rewards, style, cfg.task_reward_w, cfg.disc_reward_w), dones, infos

    def style_rewards(self, amp_obs: torch.Tensor) -> torch.Tensor:
        """Style reward of AMP observations (..., dim) -> (..., 1)."""
        model = self.amp_model
        with torch.no_grad():
            flat = amp_obs.reshape(-1, amp_obs.shape[-1])
            logits = model.disc_logits(model.norm_amp_obs(flat))
            reward = style_reward(logits, self.amp_config.disc_reward_scale)
        return reward.reshape(*amp_obs.shape[:-1], 1)

    # -- update ----------------------------------------------------------------
    def prepare_dataset(self, batch_dict) -> None:
        super().prepare_dataset(batch_dict)
        policy = swap_and_flatten01(self._rollout_amp_obs)
        batch = policy.shape[0]
        # PPO minibatches are contiguous slices; shuffled rows give the discriminator a mix of envs and times.
        policy = policy[torch.argsort(torch.rand(batch, device=policy.device))]
        replay = self.replay_buffer.sample(batch, when_empty=policy)  # the first epoch has no replay yet
        demo = self.demo_buffer.sample(batch)
        self.amp_model.update_amp_normalizer(torch.cat((policy, demo)))
        values = self.dataset.values_dict
        values["amp_obs"], values["amp_obs_replay"], values["amp_obs_demo"] = policy, replay, demo
        self.replay_buffer.store_fraction(policy, self.amp_config.amp_replay_keep_prob)
        self.demo_buffer.store(self._fetch_demo(self.amp_config.amp_batch_size))

    def calc_gradients(self, input_dict) -> None:
        self._amp_minibatch = input_dict
        super().calc_gradients(input_dict)
        self._amp_minibatch = None

    def calc_losses(self, *args, **kwargs):
        loss, a_loss, c_loss, entropy, b_loss, sum_mask = super().calc_losses(*args, **kwargs)
        loss = loss + self.amp_config.disc_coef * self.discriminator_objective(self._amp_minibatch)
        return loss, a_loss, c_loss, entropy, b_loss, sum_mask

    # eager under torch_compile=True: its gradient penalty differentiates twice, which compiled autograd refuses
    @torch.compiler.disable
    def discriminator_objective(self, minibatch: dict) -> torch.Tensor:
        """Discriminator loss on a minibatch's AMP observations, with its regularisers; logs its parts."""
        cfg = self.amp_config
        n = cfg.amp_minibatch_size
        model = self.amp_model
        net = model.a2c_network
        policy_obs = torch.cat((minibatch["amp_obs"][:n], minibatch["amp_obs_replay"][:n]))
        policy_logits = model.disc_logits(model.norm_amp_obs(policy_obs))
        demo_obs = model.norm_amp_obs(minibatch["amp_obs_demo"][:n]).requires_grad_(True)
        demo_logits = model.disc_logits(demo_obs)

        bce = discriminator_loss(policy_logits, demo_logits)
        logit_reg = squared_weight_norm(net.disc_logit_weights())
        grad_penalty = gradient_penalty(demo_logits, demo_obs)
        weight_decay = squared_weight_norm(net.disc_weights())
        total = bce + cfg.disc_logit_reg * logit_reg + cfg.disc_grad_penalty * grad_penalty + cfg.disc_weight_decay * weight_decay

        policy_acc, demo_acc = discriminator_accuracy(policy_logits.detach(), demo_logits.detach())
        self._disc_stats.add(
            bce, total, grad_penalty, logit_reg, weight_decay, policy_acc, demo_acc, policy_logits.mean(), demo_logits.mean()
        )  # in DISC_STATS' order
        return total

    # -- logging ---------------------------------------------------------------
    def write_stats(self, total_time, epoch_num, step_time, play_time, update_time, a_losses, c_losses, entropies, kls, last_lr, lr_mul, frame, *args, **kwargs):
        super().write_stats(total_time, epoch_num, step_time, play_time, update_time, a_losses, c_losses, entropies, kls, last_lr, lr_mul, frame, *args, **kwargs)
        means = {**self._rollout_stats.means(), **self._disc_stats.means()}
        for key, value in means.items():
            self.writer.add_scalar(f"amp/{key}", value, frame)
        if means:
            print(
                f"amp epoch {epoch_num}: style reward {means.get('style_reward', float('nan')):.3f}, "
                f"disc loss {means.get('disc_loss', float('nan')):.3f}, accuracy policy {means.get('disc_policy_acc', float('nan')):.2f} "
                f"demo {means.get('disc_demo_acc', float('nan')):.2f}"
            )


class AMPAgent(AMPMixin, FastA2CAgent):
    """`amp_continuous`: the fast continuous PPO agent plus the discriminator, with isaac_rl's crash-safe checkpoints."""


class StockAMPAgent(AMPMixin, SafeA2CAgent):
    """`amp_continuous_stock`: rl_games' continuous PPO agent plus the discriminator (for comparison)."""
