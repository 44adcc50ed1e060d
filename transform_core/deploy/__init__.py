"""Packaging transform-core for AWS: the Lambda layer (``transform-core layer build``) and the pipeline template's
generated Glue table (``transform-core catalog --format cloudformation``)."""
