"""Runs over a Dask cluster (``--cluster``): addresses, sites and shards, the workers'
pre-flight. Only :mod:`hostops.cluster.connect` imports ``distributed``, and nothing
imports it without a cluster given: a local run never loads Dask.
"""
