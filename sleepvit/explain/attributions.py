"""The door to captum: Integrated Gradients and Occlusion, imported only when asked for.

The scoring runtime (ONNX Runtime, no torch) explains with the attention rollout; captum's
attributions need torch, captum and the weights folder's safetensors (the ``train`` extra).
This module imports neither: :func:`captum_relevance` imports
:mod:`sleepvit.explain.captum_attributions` when it is called, and says in one line what to
install when that fails.
"""

from __future__ import annotations

import numpy as np

from sleepvit.errors import ModelError
from sleepvit.rendering.config import RenderConfig


def captum_relevance(
    backend,
    images: np.ndarray,
    present: np.ndarray,
    drawn_with: RenderConfig,
    method: str,
    target: np.ndarray | int | None = None,
) -> np.ndarray:
    """Grids ``[n, n_slots, n_cols]`` by captum's ``method`` (``ig`` or ``occlusion``).

    See :func:`sleepvit.explain.relevance`. Raises :class:`~sleepvit.errors.ModelError` when
    torch or captum is not installed.
    """
    try:
        from sleepvit.explain.captum_attributions import attribute
    except ImportError as exc:
        raise ModelError(
            f"relevance by {method} needs {exc.name or 'torch and captum'}, which is not "
            "installed; install the train extra (pip install 'sleepvit[train]') or explain "
            "with the attention rollout",
            backend.folder,
            settings=("method",),
        ) from exc
    return attribute(backend, images, present, drawn_with, method, target)
