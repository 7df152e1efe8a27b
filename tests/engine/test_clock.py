from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from operator_sim.engine.clock import SystemClock, VirtualClock, paris_date


def test_virtual_time_stands_still_until_advanced():
    clock = VirtualClock(datetime(2025, 3, 10, 9, 0, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    clock.advance(timedelta(days=61))
    assert clock.now() == datetime(2025, 5, 10, 9, 0, tzinfo=UTC)


def test_virtual_clock_only_goes_back_when_explicitly_set():
    clock = VirtualClock(datetime(2025, 3, 10, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    clock.set(datetime(2020, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2020, 1, 1, 10, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_today_is_the_paris_calendar_day():
    # 23:30 UTC on 14 July is already 15 July in Paris (summer time, UTC+2); in winter UTC+1.
    assert VirtualClock(datetime(2025, 7, 14, 23, 30, tzinfo=UTC)).today() == date(2025, 7, 15)
    assert VirtualClock(datetime(2025, 1, 14, 22, 59, tzinfo=UTC)).today() == date(2025, 1, 14)
    assert VirtualClock(datetime(2025, 1, 14, 23, 0, tzinfo=UTC)).today() == date(2025, 1, 15)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        VirtualClock(datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        paris_date(datetime(2025, 1, 1))


def test_system_clock_gives_aware_utc_time():
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    assert SystemClock().today() == paris_date(now)
