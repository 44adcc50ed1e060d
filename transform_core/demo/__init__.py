"""The demo: synthetic records and Firehose events (:mod:`~transform_core.demo.generate`, also used by the tests
and the benchmarks) and the demo run (:mod:`~transform_core.demo.run`)."""
