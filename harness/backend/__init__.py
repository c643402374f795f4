"""Where impls compute: the framework adapters, variants, the port helper, workers, the probed platform."""
