"""What a trace file may make Refinery do, at the exact limits (trace/bounds.py, trace/payload.py):
numbers one digit either side of the cap, nesting exactly at it, times at the ends of the calendar,
files one byte either side of the size limit."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from refinery.errors import TraceFormatError
from refinery.trace.bounds import (
    InputLimits,
    epoch_any_unit,
    epoch_datetime,
    parse_float_literal,
    parse_int_literal,
    read_bounded,
)
from refinery.trace.files import load_trace_files, read_json_document


def refinery_file(tmp_path: Path, inputs: dict[str, Any]) -> Path:
    runs = [{"id": "root", "name": "agent", "run_type": "chain", "inputs": inputs, "outputs": {"answer": "ok"}}]
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"id": "t1", "runs": runs}))
    return path


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def test_integers_up_to_thirty_digits_are_numbers_and_longer_ones_stay_text() -> None:
    assert parse_int_literal("9" * 30) == int("9" * 30)
    assert parse_int_literal("-" + "9" * 30) == -int("9" * 30)  # the sign is no digit
    for digits in (31, 300, 5000):
        assert parse_int_literal("1" * digits) == "1" * digits


def test_a_file_with_a_300_digit_count_loads_with_the_digits_kept(tmp_path: Path) -> None:
    big = "7" * 300
    path = tmp_path / "t.json"
    path.write_text(
        '{"id": "t1", "runs": [{"id": "root", "name": "agent", "run_type": "chain", '
        f'"inputs": {{"count": {big}, "small": 12}}}}]}}'
    )
    [trace] = load_trace_files(path)
    assert trace.root.inputs == {"count": big, "small": 12}


def test_floats_that_overflow_stay_text_and_finite_ones_are_numbers() -> None:
    assert parse_float_literal("1e308") == 1e308
    assert parse_float_literal("1e400") == "1e400" and parse_float_literal("-1e400") == "-1e400"
    assert parse_float_literal("0.5") == 0.5


def test_nesting_exactly_at_the_limit_is_kept_and_one_level_more_is_a_placeholder(tmp_path: Path) -> None:
    # The README's promise: 64 levels are kept, the run field's own object the first of them.
    [kept] = load_trace_files(refinery_file(tmp_path, {"v": nested(63)}))
    assert "elided" not in json.dumps(kept.root.inputs)
    assert not any("nested deeper" in w.message for w in kept.warnings)
    [cut] = load_trace_files(refinery_file(tmp_path, {"v": nested(64)}))
    assert "nested deeper than 64 levels elided" in json.dumps(cut.root.inputs)
    assert any("deeper than 64 levels became a placeholder" in w.message for w in cut.warnings)


def test_times_are_read_in_any_unit_within_the_calendar() -> None:
    moment = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    seconds = moment.timestamp()
    for value in (seconds, seconds * 1e3, seconds * 1e6, seconds * 1e9):
        assert epoch_any_unit(value) == moment
    assert epoch_any_unit(1e11) == datetime.fromtimestamp(1e11, UTC)  # still seconds (year 5138)
    assert epoch_any_unit(float("nan")) is None and epoch_any_unit(float("inf")) is None
    assert epoch_datetime(-62135596800.0) is None  # 0001-01-01: before the first day kept
    assert epoch_datetime(0.0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert epoch_datetime(253402300800.0) is None  # 10000-01-01
    assert epoch_datetime(datetime(9999, 12, 30, tzinfo=UTC).timestamp()) is not None


def test_a_file_at_the_byte_limit_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b"x" * 1000)
    assert len(read_bounded(path, InputLimits(max_bytes=1000))) == 1000
    with pytest.raises(TraceFormatError, match="more than 0 MB"):
        read_bounded(path, InputLimits(max_bytes=999))
    assert "REFINERY_MAX_INPUT_MB" in (_error(path, 999).hint or "")


def _error(path: Path, limit: int) -> TraceFormatError:
    try:
        read_bounded(path, InputLimits(max_bytes=limit))
    except TraceFormatError as exc:
        return exc
    raise AssertionError("no error")


def test_gzip_is_read_whole_within_the_limit_and_stops_past_it(tmp_path: Path) -> None:
    path = tmp_path / "t.json.gz"
    document = json.dumps({"id": "t1", "runs": [{"id": "root", "name": "agent", "run_type": "chain"}]}).encode()
    path.write_bytes(gzip.compress(document) + gzip.compress(b"\n"))  # two members, as `cat a.gz b.gz`
    assert read_bounded(path, InputLimits(max_bytes=len(document) + 1)) == document + b"\n"
    with pytest.raises(TraceFormatError, match="decompressed"):
        read_bounded(path, InputLimits(max_bytes=len(document) - 1))
    path.write_bytes(gzip.compress(document)[:-12])
    with pytest.raises(TraceFormatError, match="cut short"):
        read_bounded(path, InputLimits())


def test_what_is_not_a_regular_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match="is a directory"):
        read_bounded(tmp_path, InputLimits())
    (tmp_path / "link").symlink_to(tmp_path / "gone.json")
    with pytest.raises(Exception, match="dangling symlink"):
        read_bounded(tmp_path / "link", InputLimits())
    with pytest.raises(Exception, match="does not exist"):
        read_bounded(tmp_path / "missing.json", InputLimits())
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(TraceFormatError, match="is empty"):
        read_json_document(tmp_path / "empty.json")


def test_a_large_gzip_is_read_in_chunks_and_a_corrupt_one_says_so(tmp_path: Path) -> None:
    path = tmp_path / "big.json.gz"
    document = json.dumps({"id": "t1", "pad": "x" * 3_000_000}).encode()  # many chunks out of a small input
    path.write_bytes(gzip.compress(document))
    assert read_bounded(path, InputLimits(max_bytes=len(document))) == document
    with pytest.raises(TraceFormatError, match="decompressed"):
        read_bounded(path, InputLimits(max_bytes=len(document) - 1))
    broken = bytearray(gzip.compress(document))
    broken[20:40] = b"\xff" * 20
    path.write_bytes(bytes(broken))
    with pytest.raises(TraceFormatError, match=rf"{path.name} looks gzipped but cannot be decompressed"):
        read_bounded(path, InputLimits())


def test_a_cut_gzip_says_what_to_do_and_a_gzip_bomb_stops_without_inflating_whole(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "t.json.gz"
    path.write_bytes(gzip.compress(b'{"id": "t1"}' * 100)[:-12])
    with pytest.raises(TraceFormatError) as cut:
        read_bounded(path, InputLimits())
    assert cut.value.hint == "Re-create or re-download it."
    path.write_bytes(gzip.compress(b"0" * 64_000_000, compresslevel=1))  # 64 MB of zeros in ~300 KB
    tracemalloc.start()
    try:
        with pytest.raises(TraceFormatError, match="decompressed"):
            read_bounded(path, InputLimits(max_bytes=1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000_000  # read a chunk at a time, never the whole 64 MB


def test_epoch_numbers_are_read_in_the_unit_their_size_says_and_the_first_day_is_a_date() -> None:
    from datetime import UTC, datetime, timedelta

    from refinery.trace.bounds import _MIN_EPOCH, epoch_any_unit, epoch_datetime

    start = datetime(1970, 1, 1, tzinfo=UTC)
    assert epoch_any_unit(1e11) == start + timedelta(seconds=1e11)  # the largest value read as seconds
    assert epoch_any_unit(1e11 + 0.5) == start + timedelta(seconds=1e8 + 0.0005)  # just past it: milliseconds
    assert epoch_any_unit(1_770_131_992_000_000_000) == start + timedelta(seconds=1_770_131_992)  # nanoseconds
    assert epoch_any_unit(1e21) is None  # past nanoseconds of year 9999: no unit makes it a time
    assert epoch_datetime(_MIN_EPOCH) == datetime(1, 1, 2, tzinfo=UTC)
