"""How Firehose delivers, as the function's environment says: the template sets it with the stream's destination.

``TRANSFORM_CORE_DELIVERY`` (``s3`` or ``iceberg``) overrides the spec's ``output.delivery``. With ``iceberg``,
``TRANSFORM_CORE_ICEBERG_DATABASE``, ``TRANSFORM_CORE_ICEBERG_TABLE`` and ``TRANSFORM_CORE_ICEBERG_OPERATION`` give
the table and the operation where the spec's ``output.iceberg`` does not; where both say something they must agree
(names compared as Glue compares them, ignoring case). Unset, the spec decides alone. A spec and an environment that
disagree fail the cold start with one line naming the variable, rather than every record at Firehose's end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import cast

from transform_core.errors import ConfigurationEnvironmentError
from transform_core.spec.model import ICEBERG_OPERATIONS, IcebergOperation, IcebergSpec, PipelineSpec, glue_name_problem

__all__ = ["DELIVERY_ENV", "ICEBERG_DATABASE_ENV", "ICEBERG_OPERATION_ENV", "ICEBERG_TABLE_ENV", "delivery_from_env"]

DELIVERY_ENV = "TRANSFORM_CORE_DELIVERY"
ICEBERG_DATABASE_ENV = "TRANSFORM_CORE_ICEBERG_DATABASE"
ICEBERG_TABLE_ENV = "TRANSFORM_CORE_ICEBERG_TABLE"
ICEBERG_OPERATION_ENV = "TRANSFORM_CORE_ICEBERG_OPERATION"
_ICEBERG_ENVS = {"database": ICEBERG_DATABASE_ENV, "table": ICEBERG_TABLE_ENV, "operation": ICEBERG_OPERATION_ENV}


def delivery_from_env(spec: PipelineSpec, environ: Mapping[str, str]) -> PipelineSpec:
    """``spec`` delivering as ``environ`` says (``spec`` itself when it says nothing).

    Raises:
        ConfigurationEnvironmentError: a value outside its choices, an Iceberg variable without
            ``TRANSFORM_CORE_DELIVERY=iceberg``, a spec asking for Iceberg under ``s3``, a table named by neither, or
            the spec and a variable naming different tables or operations.
    """
    delivery = environ.get(DELIVERY_ENV, "").strip()
    given = {field: value for field, name in _ICEBERG_ENVS.items() if (value := environ.get(name, "").strip())}
    if delivery not in ("", "s3", "iceberg"):
        raise ConfigurationEnvironmentError(f"set {DELIVERY_ENV} to s3 or iceberg, not {delivery!r}")
    if delivery != "iceberg" and given:
        name = _ICEBERG_ENVS[next(iter(given))]
        raise ConfigurationEnvironmentError(f"{name} is set, so {DELIVERY_ENV} must be iceberg, not {delivery or 'unset'}")
    if delivery == "s3" and spec.output.delivery == "iceberg":
        raise ConfigurationEnvironmentError(
            f"{DELIVERY_ENV} is s3 (the stream delivers to S3), but {spec.spec_file} has output.delivery: iceberg"
        )
    if delivery != "iceberg":
        return spec
    own = spec.output.iceberg
    values = {
        field: _agreed(field, given.get(field), getattr(own, field) if own is not None else None, spec.spec_file)
        for field in ("database", "table", "operation")
    }
    operation = cast("IcebergOperation", values["operation"] or "insert")  # checked by _agreed, or the spec's
    table = IcebergSpec(database=values["database"] or "", table=values["table"] or "", operation=operation)
    return dataclasses.replace(spec, output=dataclasses.replace(spec.output, delivery="iceberg", iceberg=table))


def _agreed(field: str, from_env: str | None, from_spec: str | None, spec_file: str) -> str | None:
    """The value of ``output.iceberg.<field>``: the variable's, the spec's, or None (the operation's default)."""
    name = _ICEBERG_ENVS[field]
    if from_env is not None:
        problem = glue_name_problem(from_env) if field != "operation" else _operation_problem(from_env)
        if problem is not None:
            raise ConfigurationEnvironmentError(f"{name} {problem}")
        if from_spec is not None and from_env.lower() != from_spec.lower():
            raise ConfigurationEnvironmentError(
                f"{name} is {from_env!r}, but {spec_file} has output.iceberg.{field}: {from_spec!r}; make them agree"
            )
        return from_env
    if from_spec is None and field != "operation":
        raise ConfigurationEnvironmentError(f"{DELIVERY_ENV} is iceberg: set {name}, or output.iceberg.{field} in {spec_file}")
    return from_spec


def _operation_problem(value: str) -> str | None:
    if value in ICEBERG_OPERATIONS:
        return None
    return f"must be one of {', '.join(ICEBERG_OPERATIONS)}, got {value!r}"
