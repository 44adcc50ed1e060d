"""The enrich stage: each record's key → the JSON text its reference table adds (string keys in a Polars query,
integer keys by exact integer), null for a miss, and the reason a ``on_missing: reject`` table gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from transform_core.engine.enrich import integer_suffixes, missing_key_reason, string_lookup
from transform_core.schema import FieldInfo, compile_schema, rule_id
from transform_core.spec import EnrichSpec
from transform_core.tables import ReferenceTable, load_table

DEVICES_CSV = 'device_id,site,model\ndev-1,plant-1,X1\ndev-2,plant-2,X2\nGerät-é,"Zürich ""Nord""",\ndev-10,plant-10,X10\n'
BANDS_CSV = "battery,band\n0,empty\n1,low\n5,five\n-3,minus\n4611686018427387904,huge\n"

SUFFIX = {
    "dev-1": ',"site":"plant-1","model":"X1"',
    "dev-2": ',"site":"plant-2","model":"X2"',
    "Gerät-é": ',"site":"Zürich \\"Nord\\"","model":""',
    "dev-10": ',"site":"plant-10","model":"X10"',
}
BAND = {0: ',"band":"empty"', 1: ',"band":"low"', 5: ',"band":"five"', -3: ',"band":"minus"', 2**62: ',"band":"huge"'}

SCHEMA = compile_schema(
    {
        "type": "object",
        "properties": {
            "device_id": {"type": "string"},
            "seq": {"type": "integer"},
            "meta": {"type": "object", "properties": {"device": {"type": "string"}}},
        },
    },
    file="schema.json",
)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ReferenceTable]:
    """A string-keyed table (devices) and an integer-keyed one (bands), loaded as the engine loads them."""
    folder = tmp_path_factory.mktemp("tables")
    (folder / "devices.csv").write_text(DEVICES_CSV, encoding="utf-8")
    (folder / "bands.csv").write_text(BANDS_CSV, encoding="utf-8")
    devices = enrich_spec("devices", folder / "devices.csv", "device_id", "device_id", ("site", "model"))
    bands = enrich_spec("bands", folder / "bands.csv", "seq", "battery", ("band",))
    return {"devices": load_table(devices, "string"), "bands": load_table(bands, "integer")}


def enrich_spec(name: str, source: Path, record_key: str, table_key: str, fields: tuple[str, ...]) -> EnrichSpec:
    return EnrichSpec(
        name=name, source=source, format="csv", record_key=record_key, table_key=table_key, fields=fields, on_missing="reject"
    )


def lookup(keys: list[str | None], table: ReferenceTable) -> pl.DataFrame:
    frame = pl.DataFrame({"key": keys}, schema={"key": pl.String})
    return frame.select(string_lookup(pl.col("key"), table).alias("suffix"))


def suffix_frame(expected: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"suffix": expected}, schema={"suffix": pl.String})


# --- string_lookup ----------------------------------------------------------------------------------------------------

STRING_CASES: list[Any] = [
    pytest.param(["dev-2", "dev-1"], [SUFFIX["dev-2"], SUFFIX["dev-1"]], id="hits-in-record-order"),
    pytest.param(["dev-9"], [None], id="miss"),
    pytest.param([None], [None], id="null"),
    pytest.param(["Gerät-é"], [SUFFIX["Gerät-é"]], id="unicode-key-and-escaped-value"),
    pytest.param(["DEV-1", "dev-1 ", " dev-1", "dev-", "dev-100", ""], [None] * 6, id="near-misses-are-misses"),
    pytest.param(
        ["dev-1", None, "dev-1", "nope", "dev-10"], [SUFFIX["dev-1"], None, SUFFIX["dev-1"], None, SUFFIX["dev-10"]], id="mixed"
    ),
    pytest.param([], [], id="no-records"),
]


@pytest.mark.parametrize(("keys", "expected"), STRING_CASES)
def test_string_lookup_hit_miss_and_null(
    tables: dict[str, ReferenceTable], keys: list[str | None], expected: list[str | None]
) -> None:
    assert_frame_equal(lookup(keys, tables["devices"]), suffix_frame(expected))


@given(keys=st.lists(st.sampled_from([*SUFFIX, None]) | st.text(max_size=8), max_size=40))
def test_string_lookup_is_a_dict_lookup_of_each_key(tables: dict[str, ReferenceTable], keys: list[str | None]) -> None:
    expected = [SUFFIX.get(k) if k is not None else None for k in keys]
    assert_frame_equal(lookup(keys, tables["devices"]), suffix_frame(expected))


# --- integer_suffixes -------------------------------------------------------------------------------------------------

INTEGER_CASES: list[Any] = [
    pytest.param([5, 0, -3, 1], [BAND[5], BAND[0], BAND[-3], BAND[1]], id="hits"),
    pytest.param([2**62], [BAND[2**62]], id="a-large-key"),
    pytest.param([5.0, 0.0, 1.0], [None] * 3, id="floats-equal-to-keys-miss"),
    pytest.param([True, False], [None, None], id="booleans-hash-as-1-and-0-but-miss"),
    pytest.param(["5", "0"], [None, None], id="numeric-strings-miss"),
    pytest.param([7, 2**70, -(2**70)], [None] * 3, id="misses"),
    pytest.param([None], [None], id="null"),
    pytest.param([[5], {"5": 5}], [None, None], id="array-and-object"),
    pytest.param([], [], id="no-records"),
]


@pytest.mark.parametrize(("values", "expected"), INTEGER_CASES)
def test_integer_suffixes_only_a_true_integer_finds_its_key(
    tables: dict[str, ReferenceTable], values: list[Any], expected: list[str | None]
) -> None:
    assert_series_equal(integer_suffixes(values, tables["bands"]), pl.Series(expected, dtype=pl.String))


@given(values=st.lists(st.integers(-5, 8) | st.floats(-5, 8) | st.booleans() | st.none(), max_size=30))
def test_integer_suffixes_agree_with_an_exact_integer_lookup(tables: dict[str, ReferenceTable], values: list[Any]) -> None:
    expected = [BAND.get(v) if type(v) is int else None for v in values]
    assert_series_equal(integer_suffixes(values, tables["bands"]), pl.Series(expected, dtype=pl.String))


# --- missing_key_reason -----------------------------------------------------------------------------------------------

REASON_CASES: list[Any] = [
    pytest.param(
        "dev-9", "devices", "device_id", "$.device_id: \"dev-9\" is not in reference table 'devices' (enrich)", id="string"
    ),
    pytest.param(None, "devices", "device_id", "$.device_id: null is not in reference table 'devices' (enrich)", id="null"),
    pytest.param(7, "bands", "seq", "$.seq: 7 is not in reference table 'bands' (enrich)", id="integer"),
    pytest.param(5.0, "bands", "seq", "$.seq: 5.0 is not in reference table 'bands' (enrich)", id="float-shows-why-it-missed"),
    pytest.param(True, "bands", "seq", "$.seq: true is not in reference table 'bands' (enrich)", id="boolean"),
    pytest.param(
        "d" * 80,
        "devices",
        "meta.device",
        f"$.meta.device: \"{'d' * 56}... is not in reference table 'devices' (enrich)",
        id="nested-long",
    ),
]


@pytest.mark.parametrize(("value", "table", "field", "expected"), REASON_CASES)
def test_missing_key_reason_names_the_path_the_value_and_the_table(
    tables: dict[str, ReferenceTable], value: Any, table: str, field: str, expected: str
) -> None:
    key_info: FieldInfo = SCHEMA.fields[field]
    reason = missing_key_reason(value, tables[table], key_info)
    assert reason == expected
    assert rule_id(reason) == f"{key_info.path}|enrich"  # the metric label
