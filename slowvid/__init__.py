"""slowvid: a research codebase for video understanding."""

__version__ = "0.1.0"
