"""User code joining a run without forking: extension modules and extra algo observers.

An extension module is imported before the run is built (`extensions=[my_pkg.ext]`
on the command line). At import it registers what it brings:

    isaac_rl.tasks.register("PushBox", PushBox)                  # a task
    isaac_rl.rlgames.launch.add_runner_hook(register_my_algo)    # algos, players, models, networks
    isaac_rl.rlgames.extensions.add_observer(MyObserver)         # an rl_games AlgoObserver
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from rl_games.common.algo_observer import AlgoObserver
from rl_games.torch_runner import Runner


class CombinedObserver(AlgoObserver):
    """Forwards every rl_games observer call to each of `observers` in turn.

    rl_games 1.6.5 has no multi-observer of its own.
    """

    def __init__(self, observers: list[AlgoObserver]) -> None:
        super().__init__()
        self.observers = list(observers)

    def before_init(self, base_name, config, experiment_name) -> None:
        for observer in self.observers:
            observer.before_init(base_name, config, experiment_name)

    def after_init(self, algo) -> None:
        for observer in self.observers:
            observer.after_init(algo)

    def process_infos(self, infos, done_indices) -> None:
        for observer in self.observers:
            observer.process_infos(infos, done_indices)

    def after_steps(self) -> None:
        for observer in self.observers:
            observer.after_steps()

    def after_clear_stats(self) -> None:
        for observer in self.observers:
            if hasattr(observer, "after_clear_stats"):
                observer.after_clear_stats()

    def after_print_stats(self, frame, epoch_num, total_time) -> None:
        for observer in self.observers:
            observer.after_print_stats(frame, epoch_num, total_time)


def add_observer(make_observer: Callable[[], AlgoObserver]) -> None:
    """Attach a new `make_observer()` to every Runner built by `launch.build_runner`, next to isaac_rl's own."""
    from isaac_rl.rlgames import launch

    def hook(runner: Runner) -> None:
        current = runner.algo_observer
        extra = make_observer()
        if isinstance(current, CombinedObserver):
            current.observers.append(extra)
        else:
            runner.algo_observer = CombinedObserver([current, extra])

    # One hook per factory, so importing an extension twice adds its observer once.
    _observer_hooks.setdefault(make_observer, hook)
    launch.add_runner_hook(_observer_hooks[make_observer])


_observer_hooks: dict[Any, Callable[[Runner], None]] = {}


def load_extensions(modules: Any) -> None:
    """Import each named module (they register tasks, hooks, observers at import)."""
    if modules in (None, ""):
        return
    if isinstance(modules, str) or not all(isinstance(name, str) and name for name in modules):
        raise ValueError(
            f"extensions={modules!r}: expected a list of importable module names, "
            f"e.g. extensions=[my_package.isaac_extensions]"
        )
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ValueError(
                f"extension module {name!r} could not be imported: {error} "
                f"(put its directory on PYTHONPATH or pip install its package)"
            ) from error
