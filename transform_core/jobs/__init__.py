"""Batch jobs on one machine: reading archived and failed records (:mod:`~transform_core.jobs.inputs`) and running
them through a pipeline into the lake on every core (:mod:`~transform_core.jobs.reprocess`)."""
