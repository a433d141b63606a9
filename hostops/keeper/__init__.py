"""Warm runs: the per-user background process that keeps SSH connections open between
hostops commands (``--persist``), and the thin client that hands it a command.

Where things are: ``persist`` (the ``--persist`` setting, read before anything heavy
loads), ``paths`` (the private directory and the socket), ``wire`` (messages and file
descriptors over the socket), ``client`` (the ``hostops`` command's side: stdlib only),
``server`` (the background process: accepts commands, owns the workers), ``worker``
and ``parked`` (a worker process serving several runs; the connections it keeps),
``source`` and ``session`` (the process that carries out one command: the run's
engine and aggregator, attached to the background process's workers), ``early`` (a
cold command's workers, forked on demand from a process started first thing: the same
worker protocol, nothing kept).

This package's modules that the client imports (persist, paths, wire, client) import
nothing but the standard library: a warm command starts no paramiko.
"""
