"""The AMP discriminator's objective and style reward as plain torch functions.

The discriminator D(s, s') = sigmoid(logit) tells reference (demo) motion
(label 1) from the policy's motion (label 0). Its logit is trained with binary
cross-entropy, a penalty on the gradient of the logit at demo samples (keeps
D smooth where the policy needs a signal, as in Peng et al. 2021), and L2
penalties on the logit layer and on all discriminator weights. The policy is
rewarded by -log(1 - D): high where D mistakes its motion for the reference.
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F

# D is clamped to at most 1 - MIN_ONE_MINUS_D so the reward stays finite
# (about 9.2 at the clamp) when the discriminator is sure a motion is real.
MIN_ONE_MINUS_D = 1e-4


def discriminator_loss(policy_logits: torch.Tensor, demo_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with policy samples labelled 0 and demo samples 1, the two halves weighted equally."""
    policy_loss = F.binary_cross_entropy_with_logits(policy_logits, torch.zeros_like(policy_logits))
    demo_loss = F.binary_cross_entropy_with_logits(demo_logits, torch.ones_like(demo_logits))
    return 0.5 * (policy_loss + demo_loss)


def discriminator_accuracy(policy_logits: torch.Tensor, demo_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fractions of policy samples classified as policy (logit < 0) and of demo samples as demo (logit > 0)."""
    policy_acc = (policy_logits < 0).float().mean()
    demo_acc = (demo_logits > 0).float().mean()
    return policy_acc, demo_acc


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Mean over samples of |d logit / d input|^2.

    `inputs` must require grad and `logits` must have been computed from it.
    The graph is kept so the penalty itself can be backpropagated.
    """
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True, retain_graph=True)
    return grad.pow(2).sum(dim=-1).mean()


def squared_weight_norm(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """Sum of squared entries of all `weights` (an L2 penalty without the 1/2)."""
    return sum(w.pow(2).sum() for w in weights)


def style_reward(logits: torch.Tensor, scale: float) -> torch.Tensor:
    """scale * -log(1 - D) with D = sigmoid(logit), clamped so it stays finite."""
    prob_demo = torch.sigmoid(logits)
    return -scale * torch.log(torch.clamp(1.0 - prob_demo, min=MIN_ONE_MINUS_D))


def combine_rewards(task_reward: torch.Tensor, style: torch.Tensor, task_weight: float, style_weight: float) -> torch.Tensor:
    """The reward PPO optimises: a weighted sum of the task's reward and the style reward."""
    return task_weight * task_reward + style_weight * style
