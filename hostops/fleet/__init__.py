"""The fleet: the process pool, dispatch of jobs to workers, events, the aggregator, rollouts."""
