"""The ``spark`` extra bounds pandas where pyspark stops supporting it, and the environment holds such a pandas.

pyspark's ``[sql]`` extra declares no upper bound, so plain pip resolves the newest pandas; pyspark then warns (an
error under this suite's ``filterwarnings``) from the version its own check names.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

pytest.importorskip("pyspark")

from pyspark.sql.pandas import utils as pyspark_pandas  # noqa: E402

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def _extra_pandas() -> Requirement:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    found = [Requirement(r) for r in extras["spark"] if Requirement(r).name == "pandas"]
    assert len(found) == 1, extras["spark"]
    return found[0]


def _unsupported_from() -> Version:
    """The first pandas version pyspark's ``require_minimum_pandas_version`` warns about."""
    source = inspect.getsource(pyspark_pandas.require_minimum_pandas_version)
    bounds = re.findall(r'pandas\.__version__\) >= LooseVersion\("([0-9.]+)"\)', source)
    assert bounds, "pyspark's pandas check no longer names the version it warns from"
    return Version(bounds[0])


def test_the_extra_stops_where_pyspark_warns() -> None:
    requirement = _extra_pandas()
    first_unsupported = _unsupported_from()
    assert first_unsupported not in requirement.specifier
    below = Version(f"{first_unsupported.major - 1}.99")
    assert below in requirement.specifier


def test_the_installed_pandas_is_one_the_extra_allows() -> None:
    import pandas

    assert Version(pandas.__version__) in _extra_pandas().specifier
    assert Version(pandas.__version__) < _unsupported_from()
