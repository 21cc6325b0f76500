"""isaac_rl: IsaacGym-style batched RL environments on MuJoCo (Warp on CUDA, C on CPU)."""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
ASSET_ROOT = REPO_ROOT / "assets"
CFG_ROOT = REPO_ROOT / "cfg"
