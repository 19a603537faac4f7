"""load_csv: targets, labels, and every error path."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradstep.data import load_csv
from gradstep.errors import DataError


def _write(tmp_path, text: str, name: str = "t.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_string_labels_by_name(tmp_path):
    p = _write(tmp_path, "a,species,b\n1,cat,2\n3,dog,4\n5,cat,6\n\n")
    ds = load_csv(p, target="species")
    assert ds.x.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.x.dtype == np.float32
    assert ds.y.tolist() == [0, 1, 0] and ds.y.dtype == np.int64
    assert ds.classes == ("cat", "dog") and ds.feature_names == ("a", "b")
    assert ds.task == "classification" and ds.name == "t"


def test_numeric_labels_and_regression(tmp_path):
    p = _write(tmp_path, "x,y\n0.5,2\n1.5,1.0\n2.5,10\n")
    ds = load_csv(p)
    assert ds.task == "classification" and ds.classes == ("1", "2", "10")
    assert ds.y.tolist() == [1, 0, 2]
    r = load_csv(_write(tmp_path, "x,y\n1,0.5\n2,1.25\n", "r.csv"))
    assert r.task == "regression" and r.y.dtype == np.float32 and r.y.tolist() == [0.5, 1.25]
    forced = load_csv(p, task="regression")
    assert forced.y.tolist() == [2.0, 1.0, 10.0]


def test_no_header_index_and_delimiter(tmp_path):
    p = _write(tmp_path, "7;1;2\n8;3;4\n")
    ds = load_csv(p, target=0, delimiter=";", header=False)
    assert ds.feature_names == ("col1", "col2") and ds.classes == ("7", "8")
    assert load_csv(p, target=-3, delimiter=";", header=False).y.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("", {}, "empty"),
        ("a,b\n", {}, "no data rows"),
        ("a\n1\n", {}, "at least 2 columns"),
        ("a,b\n1,2\n3\n", {}, r"line 3: expected 2 fields, got 1"),
        ("a,b,c\n1,x,0\n", {}, r"line 2, column 1 \('b'\): non-numeric value 'x'"),
        ("a,b\nnan,1\n", {}, r"line 2, column 0 .*NaN"),
        ("a,b\ninf,1\n", {}, "NaN or infinite"),
        ("a,b\n1,\n", {}, "empty label"),
        ("a,b\n1,2\n", {"target": "zz"}, "not in header"),
        ("a,b\n1,2\n", {"target": 5}, "out of range"),
        ("a,b\n1,cat\n", {"task": "regression"}, "not a finite number"),
    ],
)
def test_errors(tmp_path, text, kwargs, match):
    with pytest.raises(DataError, match=match):
        load_csv(_write(tmp_path, text), **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_csv(tmp_path / "nope.csv")


cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="ab1.,e-\"\n ", max_size=4),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=4), max_size=5))
def test_fuzz_never_crashes(tmp_path, rows):
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    p = _write(tmp_path, buf.getvalue(), "fuzz.csv")
    try:
        ds = load_csv(p, header=False)
    except DataError:
        return
    assert ds.x.shape[0] == ds.y.shape[0]
    assert np.all(np.isfinite(ds.x))
