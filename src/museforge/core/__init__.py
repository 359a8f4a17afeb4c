"""Medium-agnostic pieces: the store, artifacts, checkpoints and the training loop.

Nothing in ``museforge.core`` imports a medium.
"""
