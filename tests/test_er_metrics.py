"""Hand-computed cases for the scores used by the entity-resolution benchmark (er_bench.py)."""

import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
import er_data  # noqa: E402

D = date(2026, 11, 16)


def frames(pred: list, true: list):
    ids = [f"r{i}" for i in range(len(true))]
    base = {"observed_date": [D] * len(true), "source": ["s"] * len(true), "listing_id": ids}
    return pl.DataFrame({**base, "entity_id": pred}), pl.DataFrame({**base, "true_entity": true})


def test_perfect():
    p, t = frames(["a", "a", "b", "c"], [1, 1, 2, 3])
    s = er_data.score(p, t)
    assert s["precision"] == s["recall"] == s["f1"] == 1.0
    assert s["bcubed_precision"] == s["bcubed_recall"] == s["bcubed_f1"] == 1.0


def test_hand_computed():
    # true clusters {0,1,2} {3,4}; predicted {0,1} {2,3,4}
    p, t = frames(["a", "a", "b", "b", "b"], [1, 1, 1, 2, 2])
    s = er_data.score(p, t)
    # predicted pairs: 1 + 3 = 4; true pairs: 3 + 1 = 4; TP: (0,1) and (3,4) = 2
    assert (s["tp_pairs"], s["pred_pairs"], s["true_pairs"]) == (2, 4, 4)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(0.5)
    # B-cubed precision per record: 2/2, 2/2, 1/3, 2/3, 2/3 -> (11/3) / 5 = 11/15
    # B-cubed recall per record: 2/3, 2/3, 1/3, 2/2, 2/2 -> (11/3) / 5 = 11/15
    assert s["bcubed_precision"] == pytest.approx(11 / 15)
    assert s["bcubed_recall"] == pytest.approx(11 / 15)
    assert s["bcubed_f1"] == pytest.approx(11 / 15)


def test_hand_computed_asymmetric():
    # true {0,1,2,3} {4}; predicted {0,1} {2} {3,4}
    p, t = frames(["a", "a", "b", "c", "c"], [1, 1, 1, 1, 2])
    s = er_data.score(p, t)
    assert (s["tp_pairs"], s["pred_pairs"], s["true_pairs"]) == (1, 2, 6)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(1 / 6)
    # precision: 1, 1, 1, 1/2, 1/2 -> 4/5; recall: 2/4, 2/4, 1/4, 1/4, 1/1 -> 2.5/5 = 1/2
    assert s["bcubed_precision"] == pytest.approx(0.8)
    assert s["bcubed_recall"] == pytest.approx(0.5)


def test_all_singletons_and_all_merged():
    p, t = frames(["a", "b", "c", "d"], [1, 1, 2, 2])
    s = er_data.score(p, t)
    assert s["precision"] == 1.0 and s["recall"] == 0.0 and s["f1"] == 0.0
    assert s["bcubed_precision"] == 1.0 and s["bcubed_recall"] == pytest.approx(0.5)
    p, t = frames(["x"] * 4, [1, 1, 2, 2])
    s = er_data.score(p, t)
    assert s["precision"] == pytest.approx(2 / 6) and s["recall"] == 1.0
    assert s["bcubed_precision"] == pytest.approx(0.5) and s["bcubed_recall"] == 1.0


def test_missing_records_are_singletons_and_duplicates_rejected():
    p, t = frames(["a", "a", "b"], [1, 1, 1])
    s = er_data.score(p.head(2), t)
    assert s["missing"] == 1 and s["tp_pairs"] == 1 and s["true_pairs"] == 3 and s["precision"] == 1.0
    with pytest.raises(ValueError):
        er_data.score(pl.concat([p, p.head(1)]), t)


@pytest.mark.parametrize("kind", ["vehicles", "jobs"])
def test_generator_invariants(kind):
    fr = er_data.generate(3000, kind, seed=7)
    assert list(fr) == list(er_data.DEFAULT_DAYS)
    from pipeline_assets.transforms.kinds import CANONICAL_SCHEMA
    for day, df in fr.items():
        assert dict(df.schema) == {**CANONICAL_SCHEMA, "listing_id": pl.String, "true_entity": pl.Int64}
        assert (df["observed_date"] == day).all()
        assert df.select("source", "listing_id").is_duplicated().sum() == 0
        assert df.select("source", "true_entity").is_duplicated().sum() == 0
    d = er_data.describe(fr)
    assert 0.3 <= d["entities_with_duplicates"] <= 0.5
    # same seed, same data
    again = er_data.generate(3000, kind, seed=7)
    assert all(again[k].equals(fr[k]) for k in fr)
    # scoring the truth against itself is perfect; listing_id alone misses the cross-source pairs
    truth = er_data.truth_of(fr)
    assert er_data.score(truth.rename({"true_entity": "entity_id"}), truth)["f1"] == 1.0
    naive = er_data.score(truth.with_columns(entity_id=pl.col("listing_id")), truth)
    assert naive["precision"] == 1.0 and naive["recall"] < 0.8
