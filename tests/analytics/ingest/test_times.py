"""Times: every common way shops write them is read into UTC; the source zone is reported; naive
times take the chosen zone; day/month order that no row settles asks the user."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from analytics.core.errors import IngestError, MappingError
from analytics.core.schema import Shape
from analytics.ingest.pipeline import IngestSpec, detect_file, ingest_file, resolve_spec
from analytics.ingest.times import infer_time_format, is_time_of_day

_T = datetime(2019, 10, 1, 8, 5, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1511544070", "1511544080"], datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC)),
        (
            ["1511544070123", "1511544080000"],
            datetime(2017, 11, 24, 17, 21, 10, 123000, tzinfo=UTC),
        ),
        (
            ["2017-11-24T17:21:10Z", "2017-11-25T00:00:00Z"],
            datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC),
        ),
        (
            ["2017-11-25T01:21:10+08:00", "2017-11-25T01:00:00+08:00"],
            datetime(2017, 11, 24, 17, 21, 10, tzinfo=UTC),
        ),
        (["20171124", "20171125"], datetime(2017, 11, 24, tzinfo=UTC)),
        (["2017/11/24 17:21", "2017/11/25 00:00"], datetime(2017, 11, 24, 17, 21, tzinfo=UTC)),
        (["2017年11月24日", "2017年11月25日"], datetime(2017, 11, 24, tzinfo=UTC)),
        (["24/11/2017 17:21", "03/04/2017 00:00"], datetime(2017, 11, 24, 17, 21, tzinfo=UTC)),
        (["11/24/2017", "03/04/2017"], datetime(2017, 11, 24, tzinfo=UTC)),
        # zone names, offsets, fractions, 12-hour clocks, dots, Chinese, Excel, microseconds
        (["2019-10-01 00:00:00 UTC", "2019-10-02 00:00:00 UTC"], datetime(2019, 10, 1, tzinfo=UTC)),
        (["2019-10-01 08:05:00 GMT", "2019-10-02 00:00:00 GMT"], _T),
        (["2019-10-01 16:05:00 CST", "2019-10-02 00:00:00 CST"], _T),  # China, +08:00
        (["2019-10-01 16:05:00 Asia/Shanghai", "2019-10-02 00:00:00 Asia/Shanghai"], _T),
        (["2019-10-01 16:05:00+0800", "2019-10-02 00:00:00+0800"], _T),
        (["2019-10-01 10:05:00 +02:00", "2019-10-02 00:00:00 +02:00"], _T),
        (["2019-10-01T08:05:00.250Z", "2019-10-02T00:00:00.5Z"], _T.replace(microsecond=250000)),
        (["2019-10-01 08:05:00.250", "2019-10-02 00:00:00"], _T.replace(microsecond=250000)),
        (["15.10.2019 08:05", "01.10.2019 08:05"], datetime(2019, 10, 15, 8, 5, tzinfo=UTC)),
        (["10/01/2019 8:05 AM", "10/15/2019 9:30 PM"], _T),
        (["10/15/2019 9:30 PM", "10/01/2019 8:05 AM"], datetime(2019, 10, 15, 21, 30, tzinfo=UTC)),
        (["2019年10月1日 08:05", "2019年10月2日 10:00"], _T),
        (["2019年10月1日 8时5分", "2019年10月2日 10时0分"], _T),
        (["43739.336805556", "43740.5"], _T),  # Excel serial days
        (["1569917100000000", "1569917200000000"], _T),  # epoch microseconds
    ],
)
def test_time_formats(tmp_path: Path, values: list[str], expected: datetime) -> None:
    text = "user,event,time\n" + "".join(f"u{i},view,{v}\n" for i, v in enumerate(values))
    result = ingest_file(write(tmp_path, "t.csv", text))
    assert result.report["rows_rejected"] == 0
    assert result.events.get_column("event_time")[0] == expected


def test_ambiguous_dates_settled_by_a_later_row(tmp_path: Path) -> None:
    """The sample cannot tell; row 1,502 (25/12) can: day/month for every row."""
    lines = [f"u{i},view,03/04/2011" for i in range(1500)] + ["u9,view,25/12/2011"]
    path = write(tmp_path, "t.csv", "user,event,date\n" + "\n".join(lines) + "\n")
    detection = detect_file(path)
    assert detection.ambiguous_dates
    assert any("day/month" in w for w in detection.warnings)
    result = ingest_file(path)
    times = result.events.get_column("event_time")
    assert times[0] == datetime(2011, 4, 3, tzinfo=UTC)
    assert times[-1] == datetime(2011, 12, 25, tzinfo=UTC)
    assert any("day/month" in w for w in result.report["warnings"])


def test_ambiguous_dates_unsettled_need_the_user(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "user,event,date\nu1,view,03/04/2011\nu2,view,05/06/2011\n")
    with pytest.raises(IngestError, match="day/month or month/day"):
        ingest_file(path)
    spec = resolve_spec(detect_file(path), day_first=False)
    result = ingest_file(path, spec)
    assert result.events.get_column("event_time")[0] == datetime(2011, 3, 4, tzinfo=UTC)


def test_contradicting_day_month_rows_rejected(tmp_path: Path) -> None:
    lines = ["u1,view,03/04/2011"] * 1200 + [
        "u2,view,25/12/2011",
        "u3,view,26/12/2011",
        "u4,view,12/31/2011",
    ]
    path = write(tmp_path, "t.csv", "user,event,date\n" + "\n".join(lines) + "\n")
    result = ingest_file(path)
    assert result.report["rows_rejected"] == 1
    assert result.rejects.get_column("line").to_list() == [1204]
    assert result.report["rows_accepted"] + result.report["rows_rejected"] == 1203


def test_naive_times_read_in_the_given_zone(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "user,event,time\nu1,view,2023-01-01 08:00:00\n")
    spec = IngestSpec(
        Shape.EVENTS,
        {"user_id": "user", "event_type": "event", "event_time": "time"},
        tz="Asia/Shanghai",
    )
    result = ingest_file(path, spec)
    assert result.events.get_column("event_time")[0] == datetime(2023, 1, 1, 0, 0, tzinfo=UTC)


def test_source_zone_is_reported_and_times_stored_in_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "user,event,time\nu1,view,2019-10-01 16:05:00 Asia/Shanghai\n")
    detection = detect_file(path)
    assert detection.time_zone == "Asia/Shanghai"
    result = ingest_file(path, detection=detection)
    assert result.report["time_zone"] == "Asia/Shanghai (written in the file); stored in UTC"
    assert result.events.get_column("event_time")[0] == _T
    naive = write(tmp_path, "n.csv", "user,event,time\nu1,view,2019-10-01 10:05:00\n")
    spec = resolve_spec(detect_file(naive), tz="Europe/Berlin")  # CEST, +02:00
    result = ingest_file(naive, spec)
    assert result.events.get_column("event_time")[0] == _T
    assert (
        result.report["time_zone"]
        == "none written in the file: read as Europe/Berlin; stored in UTC"
    )


def test_unknown_time_zone_is_a_mapping_error(tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "user,event,time\nu1,view,2019-10-01 10:05:00\n")
    with pytest.raises(MappingError, match="not a time zone we know"):
        resolve_spec(detect_file(path), tz="Mars/Olympus")


def test_date_and_time_in_two_columns(tmp_path: Path) -> None:
    text = "customer,date,time,amount\nc1,2019-10-01,8:05 AM,10.50\nc2,2019-10-02,9:30 PM,3.25\n"
    path = write(tmp_path, "two.csv", text)
    detection = detect_file(path)
    assert detection.mapping["event_time"] == "date"
    assert detection.mapping["time_of_day"] == "time"
    result = ingest_file(path, detection=detection)
    assert result.report["rows_rejected"] == 0
    assert result.events.get_column("event_time").to_list() == [
        _T,
        datetime(2019, 10, 2, 21, 30, tzinfo=UTC),
    ]
    assert "time" not in result.events.columns  # used, not kept as an extra column


def test_excel_serial_numbers_are_times_only_by_name() -> None:
    serials = pl.Series(["43739.336805556", "43740.5"])
    tf = infer_time_format(serials)
    assert tf is not None and tf.kind == "excel"
    # a quantity column in the same range is not mapped as the time from its values alone
    sample = pl.DataFrame({"customer": ["a", "b"], "units": [43739, 43740]})
    from analytics.ingest.mapping import auto_map

    assert "event_time" not in auto_map(sample).mapping


def test_time_of_day_columns() -> None:
    assert is_time_of_day(pl.Series(["08:05", "9:30 PM", "23:59:59"]))
    assert not is_time_of_day(pl.Series(["2019-10-01", "08:05"]))
    assert not is_time_of_day(pl.Series([1, 2]))


def test_unreadable_time_column_names_what_was_tried(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "user,event,time\nu1,view,soon\nu2,view,later\n")
    spec = IngestSpec(
        Shape.EVENTS, {"user_id": "user", "event_type": "event", "event_time": "time"}
    )
    with pytest.raises(MappingError, match="Excel serial days"):
        ingest_file(path, spec)
