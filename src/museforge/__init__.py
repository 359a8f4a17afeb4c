"""museforge: a local-first creative-AI studio."""

__version__ = "0.1.0"
