"""The Firehose contract: the event view (:mod:`~transform_core.firehose.batch`, from a dict or from the raw event
bytes, :mod:`~transform_core.firehose.event_bytes`), the outcome frame (:mod:`~transform_core.firehose.outcomes`)
and the transformation response (:mod:`~transform_core.firehose.response`)."""
