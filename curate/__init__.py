"""curate: the data side of reasoning post-training."""

__version__ = "0.1.0"
