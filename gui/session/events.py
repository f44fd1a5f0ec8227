"""Change notification for the Qt-free study model, the way napari's models announce changes.

The session layer must not import Qt, yet its views need to hear about every change (a new
stage, another epoch, the AI scoring arriving). An :class:`Emitter` is that seam: the model
emits, the Qt views connect.
"""

from __future__ import annotations

from collections.abc import Callable


class Emitter:
    """Callbacks called in the order they were connected, each time :meth:`emit` runs.

    >>> changed = Emitter()
    >>> seen = []
    >>> _ = changed.connect(seen.append)
    >>> changed.emit(42)
    >>> seen
    [42]
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., object]] = []

    def connect(self, callback: Callable[..., object]) -> Callable[..., object]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., object]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: object) -> None:
        for callback in list(self._callbacks):
            callback(*args)
