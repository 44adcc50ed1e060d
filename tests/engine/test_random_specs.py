"""The engine agrees with the reference on random specs, record for record (see ``schema_strategies``).

The differential tests vary the records for a few fixed specs; this varies the spec as well: its schema, event
time, enrichment, drop rule and partitions, with records written now and then in spellings the parsers may read
differently (duplicate and escaped keys, a gap before a colon, a stray character, a cut). As throwaway fuzzes, it found three schema shapes the engine judged
wrongly (``test_schema_shapes``) and two records (``test_edge_records``).
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.helpers.agreement import agreed_outcomes, batch_of
from tests.helpers.schema_strategies import ARRIVALS, records, specs
from transform_core.engine import Pipeline
from transform_core.errors import SpecError
from transform_core.reference import ReferencePipeline
from transform_core.spec import load_spec


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_engine_agrees_with_reference_on_a_random_spec(data: st.DataObject) -> None:
    raw = data.draw(specs(), label="spec")
    try:
        spec = load_spec(raw)
        engine, reference = Pipeline(spec), ReferencePipeline(spec)
    except SpecError as err:  # a keyword combination the loader refuses, by name: never anything else
        assert err.file.startswith("<inline>") and err.key, err
        event(f"refused at {err.key}")
        return
    texts = data.draw(st.lists(records(raw["schema"]), min_size=1, max_size=30), label="records")
    arrivals = data.draw(st.lists(st.sampled_from(ARRIVALS), min_size=len(texts), max_size=len(texts)), label="arrivals")
    agreed_outcomes(engine, reference, batch_of(texts, arrivals))
