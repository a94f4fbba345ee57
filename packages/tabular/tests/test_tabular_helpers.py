"""Feature-engineering helpers: dates, elapsed times between events, column kinds, smaller dtypes."""

import numpy as np
import pandas as pd
import pytest

from lamina.tabular.checks import MissingColumnError
from lamina.tabular.helpers import (
    add_datepart,
    add_elapsed_times,
    cont_cat_split,
    df_shrink,
    df_shrink_dtypes,
    make_date,
)


@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_make_date_parses_text_and_names_a_bad_column():
    df = pd.DataFrame({"d": ["2021-03-31", "2020-02-29"]})
    make_date(df, "d")
    assert pd.api.types.is_datetime64_any_dtype(df["d"]) and df["d"].iloc[1] == pd.Timestamp("2020-02-29")
    with pytest.raises(ValueError, match="column 'd' cannot be read as dates"):
        make_date(pd.DataFrame({"d": ["yesterday", "2020-01-01"]}), "d")
    with pytest.raises(MissingColumnError, match="'date'"):
        make_date(pd.DataFrame({"d": ["2020-01-01"]}), "date")


def test_add_datepart_values():
    df = pd.DataFrame({"saledate": ["2021-03-31", None], "x": [1, 2]})
    out = add_datepart(df, "saledate")
    assert out is df and "saledate" not in df
    row = df.iloc[0]
    expected = {
        "saleYear": 2021, "saleMonth": 3, "saleWeek": 13, "saleDay": 31,
        "saleDayofweek": 2, "saleDayofyear": 90,
        "saleIs_month_end": True, "saleIs_month_start": False, "saleIs_quarter_end": True,
        "saleIs_quarter_start": False, "saleIs_year_end": False, "saleIs_year_start": False,
        "saleElapsed": 1617148800,
    }  # fmt: skip
    assert {k: row[k] for k in expected} == expected
    assert np.isnan(df["saleElapsed"].iloc[1]) and np.isnan(df["saleYear"].iloc[1])


def test_add_datepart_time_prefix_and_keep():
    df = pd.DataFrame({"Date": pd.to_datetime(["2021-03-31 13:45:10"])})
    add_datepart(df, "Date", time=True, drop=False)
    assert "Date" in df
    assert (df["Hour"].iloc[0], df["Minute"].iloc[0], df["Second"].iloc[0]) == (13, 45, 10)
    assert df["Elapsed"].iloc[0] == 1617148800 + 13 * 3600 + 45 * 60 + 10
    add_datepart(df, "Date", prefix="when_")
    assert "when_Year" in df


def test_add_elapsed_times_per_store():
    rows = [  # (store, day of January, holiday)
        (1, 1, False), (1, 2, True), (1, 3, False), (1, 4, False), (1, 5, True),
        (2, 1, True), (2, 2, False), (2, 3, False),
    ]  # fmt: skip
    order = [4, 7, 0, 2, 5, 1, 6, 3]  # the frame's rows in a shuffled order
    df = pd.DataFrame(
        {
            "store": [rows[i][0] for i in order],
            "date": [f"2021-01-0{rows[i][1]}" for i in order],
            "holiday": [rows[i][2] for i in order],
        },
        index=[10 + i for i in range(len(order))],
    )
    out = add_elapsed_times(df, "holiday", "date", "store")
    expected = {  # per (store, day): After, Before, holiday_bw, holiday_fw
        (1, 1): (0, -1, 0, 2), (1, 2): (0, 0, 1, 2), (1, 3): (1, -2, 1, 1), (1, 4): (2, -1, 1, 1),
        (1, 5): (0, 0, 2, 1), (2, 1): (0, 0, 1, 1), (2, 2): (1, 0, 1, 0), (2, 3): (2, 0, 1, 0),
    }  # fmt: skip
    assert list(out.index) == list(df.index)
    for _, r in out.iterrows():
        got = (r["Afterholiday"], r["Beforeholiday"], r["holiday_bw"], r["holiday_fw"])
        assert got == expected[(r["store"], r["date"].day)]
    assert "Afterholiday" not in df  # a new frame


def test_add_elapsed_times_needs_one_row_per_base_and_date():
    df = pd.DataFrame({"s": [1, 1], "d": ["2021-01-01", "2021-01-01"], "e": [True, False]})
    with pytest.raises(ValueError, match="must identify a row"):
        add_elapsed_times(df, ["e"], "d", "s")


def test_cont_cat_split():
    df = pd.DataFrame(
        {
            "f": np.linspace(0, 1, 30),
            "many": np.arange(30),
            "few": np.arange(30) % 3,
            "s": ["a", "b", "c"] * 10,
            "y": np.arange(30.0),
        }
    )
    assert cont_cat_split(df, max_card=20, dep_var="y") == (["f", "many"], ["few", "s"])
    assert cont_cat_split(df, max_card=40, dep_var=["y", "f"]) == ([], ["many", "few", "s"])


def test_df_shrink_dtypes_and_df_shrink():
    df = pd.DataFrame(
        {
            "small": np.array([0, 100], dtype=np.int64),
            "neg": np.array([-1000, 1000], dtype=np.int64),
            "f": np.array([0.5, 1.5]),
            "s": ["a", "b"],
            "flag": [True, False],
            "keep": np.array([1, 2], dtype=np.int64),
        }
    )
    dtypes = df_shrink_dtypes(df, skip=["keep"])
    assert dtypes == {"small": np.int8, "neg": np.int16, "f": np.float32, "s": "category"}
    assert df_shrink_dtypes(df, int2uint=True)["small"] == np.uint8
    assert "s" not in df_shrink_dtypes(df, obj2cat=False)
    out = df_shrink(df)
    assert out["small"].dtype == np.int8 and isinstance(out["s"].dtype, pd.CategoricalDtype)
    assert out["small"].tolist() == [0, 100] and out["f"].tolist() == [0.5, 1.5]
    assert df["small"].dtype == np.int64  # a copy
