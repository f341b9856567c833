"""The local stack runs scheduled functions on their schedule; DEV_SCHEDULE_SECONDS runs them faster."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.conftest import start_stack, stop_stack, wait_for

pytestmark = pytest.mark.integration


def test_the_reconciler_and_the_daily_report_run_on_the_schedule_knob(tmp_path: Path) -> None:
    # Given the local stack started with its schedules firing every second
    running = start_stack(tmp_path / "dev.log", {"DEV_SCHEDULE_SECONDS": "1"})
    try:
        # When a few seconds pass, then each scheduled function has run more than once, without error
        def ran(function_id: str) -> bool:
            return running.log().count(f"->{function_id}] ran") >= 2

        wait_for(lambda: ran("ReconcilerFunction") and ran("DailyReportFunction"), 60, "two runs of each")
        assert "handler raised" not in running.log()
        # And the daily report is in the bucket, as JSON and CSV, for the previous UTC day
        s3 = running.client("s3")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reconciliationreportsbucket")["Contents"])
        assert len(keys) == 2
        assert keys[0].endswith(".csv")
        assert keys[1].endswith(".json")
        report = json.loads(s3.get_object(Bucket="reconciliationreportsbucket", Key=keys[1])["Body"].read())
        assert report["mismatches"] == []
    finally:
        assert stop_stack(running) == 0


def test_schedules_are_listed_and_off_with_the_knob_at_zero(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "dev.log", {"DEV_SCHEDULE_SECONDS": "0"})
    try:
        assert "poller            schedule:rate(5 minutes)->ReconcilerFunction" in running.log()
        wait_for(lambda: "ready in" in running.log(), 10)
        time.sleep(2)
        assert "] ran" not in running.log()
    finally:
        assert stop_stack(running) == 0
