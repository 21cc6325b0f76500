"""An isaac_rl extension module bringing an algorithm of its own: `counting_ppo`.

It is rl_games' PPO with isaac_rl's crash-safe checkpoints (SafeCheckpointMixin)
and one piece of state of its own, the number of PPO updates it has run, which
its checkpoints keep and a resume restores. A train config selects it by name:

    PYTHONPATH=examples/custom_task python scripts/train.py task=Cartpole extensions=[counting_ppo] \
        train.params.algo.name=counting_ppo
"""

from __future__ import annotations

from rl_games.algos_torch.a2c_continuous import A2CAgent
from rl_games.algos_torch.players import PpoPlayerContinuous
from rl_games.torch_runner import Runner

from isaac_rl.rlgames import launch
from isaac_rl.rlgames.checkpoint import SafeCheckpointMixin

NAME = "counting_ppo"


class CountingPPO(SafeCheckpointMixin, A2CAgent):
    """The mixin comes first, so that its atomic `save` and full-state `restore` are the ones called."""

    def __init__(self, base_name, params) -> None:
        super().__init__(base_name, params)
        self.updates = 0

    def train_epoch(self):
        self.updates += 1
        return super().train_epoch()

    # Extra state goes into the full state, not into `save`: the mixin writes
    # exactly this, and a resume hands it back here.
    def get_full_state_weights(self):
        state = super().get_full_state_weights()
        state[NAME] = {"updates": self.updates}
        return state

    def set_full_state_weights(self, weights, set_epoch=True) -> None:
        super().set_full_state_weights(weights, set_epoch=set_epoch)
        self.updates = weights[NAME]["updates"]


def register(runner: Runner) -> None:
    runner.algo_factory.register_builder(NAME, lambda **kwargs: CountingPPO(**kwargs))
    # test=True plays with the player registered under the train config's algo name
    runner.player_factory.register_builder(NAME, lambda **kwargs: PpoPlayerContinuous(**kwargs))


launch.add_runner_hook(register)
