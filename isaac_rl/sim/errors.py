"""Errors the simulation raises instead of silently producing wrong physics."""


class SimError(RuntimeError):
    """Base class for simulation failures."""


class SimCapacityError(SimError):
    """A world produced more contacts or constraints than were allocated for it."""


class SimNaNError(SimError):
    """The physics state of some worlds became NaN or infinite."""
