"""The end-to-end benchmark attributes each event to the toggle whose outcome it shows, not to whatever came next."""

from __future__ import annotations

import json

from bench.scenarios import Collector, _outcome
from bench.workload import DISTRICTS
from shared.events import topics


def _arrive(collector: Collector, district: str, t: float, stage: str, data: dict[str, object]) -> None:
    collector.arrivals.setdefault(district, []).append((t, stage, _outcome(stage, data)))


def test_a_late_copy_of_the_previous_alert_does_not_settle_the_next_toggle() -> None:
    collector = Collector("127.0.0.1:9")
    # Toggle 1 (to model) at t=0: its value and its alert, published once per recipient agency.
    _arrive(collector, "919", 0.20, "value", {"value": "1.0000"})
    _arrive(collector, "919", 0.30, "alert", {"state": "resolved"})
    # Toggle 2 (to not model) is sent at t=0.31, as soon as the first copy arrived; the second copy comes after.
    _arrive(collector, "919", 0.32, "alert", {"state": "resolved"})
    assert collector.first_after("919", 0.31, "alert", False) is None
    _arrive(collector, "919", 0.50, "value", {"value": "0.0000"})
    _arrive(collector, "919", 0.60, "alert", {"state": "open"})
    assert collector.first_after("919", 0.31, "value", False) == 0.50
    assert collector.first_after("919", 0.31, "alert", False) == 0.60
    assert collector.first_after("919", 0.0, "alert", True) == 0.30


def test_events_that_do_not_show_an_outcome_match_by_time() -> None:
    collector = Collector("127.0.0.1:9")
    _arrive(collector, "916", 1.0, "target_status", {"status": "missed"})
    assert collector.first_after("916", 0.5, "target_status", False) == 1.0
    assert collector.first_after("916", 1.5, "target_status", False) is None
    assert collector.first_after("917", 0.0, "target_status", False) is None


def test_an_acknowledged_alert_is_still_open() -> None:
    collector = Collector("127.0.0.1:9")
    _arrive(collector, "923", 1.0, "alert", {"state": "acknowledged"})
    assert collector.first_after("923", 0.5, "alert", True) is None
    assert collector.first_after("923", 0.5, "alert", False) == 1.0


def test_only_events_about_the_toggled_target_in_a_district_are_noted() -> None:
    collector = Collector("127.0.0.1:9")
    district = DISTRICTS[0]

    def note(topic: str, data: dict[str, object], t: float) -> None:
        collector.note(topic, json.dumps(data).encode(), t)

    note(topics.INDICATOR_VALUES, {"indicator_code": "revenue_growth", "unit_code": district, "value": "1"}, 1.0)
    note(topics.INDICATOR_VALUES, {"indicator_code": "model_count", "unit_code": "92", "value": "1.0000"}, 1.1)
    note(topics.TARGET_STATUS, {"target_code": "II.1", "unit_code": district, "status": "missed"}, 1.2)
    assert collector.arrivals == {}
    note(topics.INDICATOR_VALUES, {"indicator_code": "model_count", "unit_code": district, "value": "1.0000"}, 2.0)
    note(topics.TARGET_STATUS, {"target_code": "III.3.a", "unit_code": district, "status": "achieved"}, 2.1)
    note(topics.ALERTS, {"target_code": "III.3.a", "unit_code": district, "state": "resolved"}, 2.2)
    assert [(t, stage) for t, stage, _ in collector.arrivals[district]] == [
        (2.0, "value"),
        (2.1, "target_status"),
        (2.2, "alert"),
    ]
    assert collector.first_after(district, 1.5, "alert", True) == 2.2
