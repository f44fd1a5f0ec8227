"""Technician-screen epoch images: display filters, fixed physical scales, fast rasteriser."""

from sleepvit.rendering.config import RenderConfig, RowStyle

__all__ = ["RenderConfig", "RowStyle"]
