"""Technician-screen epoch images: display filters, fixed physical scales, fast rasteriser."""

from sleepvit.rendering.config import RenderConfig, RowStyle
from sleepvit.rendering.render import EpochImages, EpochRenderer, RowLayout, render_epochs

__all__ = ["EpochImages", "EpochRenderer", "RenderConfig", "RowLayout", "RowStyle", "render_epochs"]
