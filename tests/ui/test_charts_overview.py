"""Overview chart helpers: compact KPI figures and cohort labels."""

from __future__ import annotations

from datetime import date

import polars as pl

from ui.charts_overview import cohort_chart, compact_number


def test_compact_number_keeps_kpis_short() -> None:
    assert compact_number(24_691_204.4) == "24.7M"
    assert compact_number(84_512) == "84.5K"
    assert compact_number(9_999.4) == "9,999"  # small figures in full
    assert compact_number(999_999) == "1.0M"  # not 1,000.0K
    assert compact_number(-12_345) == "-12.3K"
    assert compact_number(1_500_000_000) == "1.5B"


def _cohorts() -> pl.DataFrame:
    monday, next_monday = date(2026, 2, 23), date(2026, 3, 2)
    return pl.DataFrame(
        {
            "cohort": [monday, monday, next_monday],
            "period": [0, 1, 0],
            "cohort_users": [10, 10, 20],
            "users": [10, 4, 20],
            "retention": [1.0, 0.4, 1.0],
            "basis": ["purchase"] * 3,
        }
    )


def test_cohort_rows_start_on_the_data_first_day() -> None:
    fig = cohort_chart(_cohorts(), "1w", start=date(2026, 3, 1))  # data starts on a Sunday
    assert list(fig.data[0].y) == ["01 Mar 2026 (10)"]  # not 23 Feb: no data that week


def test_cohort_rows_without_a_start_keep_the_period_start() -> None:
    fig = cohort_chart(_cohorts(), "1w")
    assert list(fig.data[0].y) == ["23 Feb 2026 (10)"]
