"""Packaging transform-core for AWS: the Lambda layer (``transform-core layer build``)."""
