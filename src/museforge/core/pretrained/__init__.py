"""ImageNet-trained feature networks in plain PyTorch, read from weight files that pip installs.

Each network is a small module with named taps (``taps.py``); ``sources.py`` finds its
file inside the installed wheel by path, checks its SHA-256 and converts it once to
safetensors in ``$MUSEFORGE_HOME/cache``. The wheels are data: they are never imported.
"""
