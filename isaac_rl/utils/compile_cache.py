"""One directory for every compiled artefact a run reuses: Warp kernels, Inductor graphs, Triton kernels.

    <root>/warp       MuJoCo Warp's kernels (WARP_CACHE_PATH)
    <root>/inductor   torch.compile: Inductor's FX graph cache and the AOTAutograd cache (TORCHINDUCTOR_CACHE_DIR)
    <root>/triton     Triton's compiled GPU kernels (TRITON_CACHE_DIR)

The root is `cache_dir=` (scripts), else $ISAAC_RL_CACHE_DIR, else ~/.cache/isaac_rl.
Left alone, Inductor caches under /tmp/torchinductor_<user>, which a reboot, a
new container or a cluster job's private /tmp empties: a "warm" machine then
pays for torch.compile again. Warp reads its variable when it initialises and
Inductor and Triton read theirs when they first compile, so `use_cache_dir`
must run before the first sim is built; this module imports neither torch nor
warp, so a script can call it first thing.

A root on a shared filesystem serves a whole cluster (docs/startup.md): Warp's
and Inductor's entries are keyed by their inputs (source, device, versions) and
written by rename, so concurrent writers do not corrupt them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT_VARIABLE = "ISAAC_RL_CACHE_DIR"
DEFAULT_ROOT = Path("~/.cache/isaac_rl")
# cache -> the variable its owner reads
VARIABLES = {"warp": "WARP_CACHE_PATH", "inductor": "TORCHINDUCTOR_CACHE_DIR", "triton": "TRITON_CACHE_DIR"}
# torch.compiler.save_cache_artifacts' bundle, portable to a machine that shares no directory (scripts/warm_cache.py)
ARTIFACTS_FILE = "torch_compile_artifacts.bin"


def cache_root(root: str | Path | None = None) -> Path:
    """The cache root: `root`, else $ISAAC_RL_CACHE_DIR, else ~/.cache/isaac_rl (absolute)."""
    chosen = root if root not in (None, "") else os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT
    return Path(chosen).expanduser().resolve()


def use_cache_dir(root: str | Path | None = None, warp_dir: str | Path | None = None) -> dict[str, Path]:
    """Point Warp's, Inductor's and Triton's caches into one root; returns {cache: directory}.

    An explicit `root` (a user's `cache_dir=`) wins over the variables already
    set; without one, a variable already set (an image's WARP_CACHE_PATH) is
    kept. `warp_dir` (the older `warp_cache_dir=`) moves Warp's cache alone.
    A Warp already initialised keeps its cache: asking explicitly for another
    one is then an error.
    """
    explicit = root not in (None, "")
    base = cache_root(root)
    chosen = {}
    for name, variable in VARIABLES.items():
        inherited = os.environ.get(variable)
        if name == "warp" and warp_dir not in (None, ""):
            path = Path(warp_dir).expanduser().resolve()
        elif inherited and not explicit:
            path = Path(inherited).expanduser().resolve()
        else:
            path = base / name
        chosen[name] = path
    in_use = _initialised_warp_cache()
    if in_use is not None:
        if (explicit or warp_dir not in (None, "")) and in_use != chosen["warp"]:
            raise RuntimeError(
                f"Warp is already initialised with its kernel cache in {in_use}; "
                f"call use_cache_dir before the first sim is built to use {chosen['warp']}"
            )
        chosen["warp"] = in_use
    elif "warp" in sys.modules:
        sys.modules["warp"].config.kernel_cache_dir = str(chosen["warp"])  # imported: read before the variable
    for name, variable in VARIABLES.items():
        os.environ[variable] = str(chosen[name])
    os.environ[ROOT_VARIABLE] = str(base)
    return chosen


def _initialised_warp_cache() -> Path | None:
    """The kernel cache of a Warp already initialised in this process (it reads its setting once), else None."""
    warp = sys.modules.get("warp")
    if warp is None or warp._src.context.runtime is None:
        return None
    return Path(warp.config.kernel_cache_dir).resolve().parent  # Warp adds a folder of its version


def save_compile_artifacts(path: str | Path) -> int:
    """Write this process's torch.compile artefacts (Inductor, AOTAutograd, Triton) into one file; returns its bytes (0: none)."""
    import torch

    saved = torch.compiler.save_cache_artifacts()
    if saved is None:
        return 0
    data, _ = saved
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return len(data)


def load_compile_artifacts(path: str | Path) -> bool:
    """Unpack a bundle written by `save_compile_artifacts` into the caches `use_cache_dir` chose; False if there is none."""
    source = Path(path)
    if not source.is_file():
        return False
    import torch

    torch.compiler.load_cache_artifacts(source.read_bytes())
    return True
