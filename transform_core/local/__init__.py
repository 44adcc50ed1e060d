"""The pipeline on one machine, as it runs on AWS.

Delivery: :class:`~transform_core.local.lambda_process.LocalLambda` runs the function as Lambda runs it (a runtime
process behind a local Runtime API, :mod:`transform_core.local.runtime_api_server`), and
:class:`~transform_core.local.delivery.LocalFirehose` buffers, invokes and delivers as Firehose does, into a lake
folder standing for the template's buckets (``docs/local.md``, "Delivery").

The whole pipeline (``transform-core local``, ``docs/local.md``, "The local pipeline"):
:class:`~transform_core.local.pipeline.LocalPipeline` runs them with
:class:`~transform_core.local.ingest.IngestServer` (``POST /events`` as the template's API Gateway route) and the
curated step; :func:`~transform_core.local.send.send_lines` is a producer for the endpoint, and
:mod:`~transform_core.local.traffic` the demo's generated traffic. Import them from their modules.
"""
