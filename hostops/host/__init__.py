"""One host: connecting to it, running operations on it, nothing about the fleet.

Nothing here uses multiprocessing, events or the CLI (see the README's "How it works").
"""
