"""Python's garbage collector kept out of CUDA graph captures.

Freeing a CUDA graph is not allowed while a stream is capturing: it
invalidates the capture ("operation failed due to a previous error during
capture"), and a failed capture leaves torch's CUDA random generator in
capture state for the rest of the process. An object that owns a graph (an
earlier env's step, an agent's update) and sits in a reference cycle is
freed whenever the collector next runs, which can be in the middle of a
later capture, since the Python code being recorded allocates (torch no
longer collects before a capture by default:
`torch.compiler.config.force_cudagraph_gc`). The collector is paused for
the capture instead: a full collection before each one would cost start-up
time for garbage that may as well be freed after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_collection_while_capturing() -> Iterator[None]:
    """No garbage collection until the block ends; the collector is as it was after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
