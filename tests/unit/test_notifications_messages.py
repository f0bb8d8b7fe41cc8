"""What an alert says: Vietnamese by default, English on request, numbers and dates written properly."""

from __future__ import annotations

from typing import Any

from services.notifications.domain.messages import fmt_date, fmt_number, render

TARGET: dict[str, Any] = {
    "template": "target_risk",
    "target_code": "II.2.e",
    "unit_code": "92",
    "status": "at_risk",
    "target": "50",
    "current": "1234.5",
    "projection": "44.2000",
    "deadline": "2025-12-31",
    "role": "lead",
    "explanation": "Tăng trưởng quan sát thấp hơn yêu cầu.",
}


def test_numbers_and_dates() -> None:
    assert fmt_number("1234567.5", "vi") == "1.234.567,5"
    assert fmt_number("1234567.5", "en") == "1,234,567.5"
    assert fmt_number("65.0000", "vi") == "65"
    assert fmt_number(None, "vi") == "—"
    assert fmt_date("2025-06-09") == "09/06/2025"


def test_a_target_alert_in_both_languages() -> None:
    vi = render(TARGET)
    assert vi.title == "Cảnh báo chỉ tiêu II.2.e (đơn vị 92): có nguy cơ không đạt"
    assert "Mục tiêu: 50; hiện tại: 1.234,5; dự báo đến hạn: 44,2; hạn: 31/12/2025." in vi.body
    assert "chủ trì" in vi.body and "Tăng trưởng" in vi.body
    en = render(TARGET, "en")
    assert en.title == "Target II.2.e (92) is at risk"
    assert "Target: 50; current value: 1,234.5; projection: 44.2; due: 31/12/2025." in en.body
    assert render(TARGET, "fr") == vi  # anything else: Vietnamese


def test_deadline_messages() -> None:
    base = {"report_kind": "semi_annual", "period": "2025-H1", "due_on": "2025-06-09", "authority": "Sở NN&PTNT"}
    reminder = render({**base, "template": "deadline_reminder", "days_left": 7})
    assert reminder.title == "Nhắc hạn nộp báo cáo 6 tháng đầu năm 2025 (hạn 09/06/2025)"
    assert "chậm nhất hết ngày 09/06/2025 (còn 7 ngày)" in reminder.body
    last_day = render({**base, "template": "deadline_reminder", "days_left": 0})
    assert "hôm nay là ngày cuối" in last_day.body
    overdue = render({**base, "template": "deadline_overdue", "days_overdue": 8}, "en")
    assert overdue.title == "Overdue: semi-annual report (first half of 2025) (due 09/06/2025)"
    met = render(
        {
            **base,
            "report_kind": "annual",
            "period": "2025",
            "template": "deadline_met",
            "submitted_on": "2025-12-12",
            "days_late": 3,
        }
    )
    assert met.title == "Đã nhận báo cáo năm 2025" and "trễ 3 ngày" in met.body
    ad_hoc = render(
        {**base, "report_kind": "ad_hoc", "request_title": "Hạn mặn", "template": "deadline_requested", "days_left": 3},
        "en",
    )
    assert ad_hoc.title == "Requested: ad-hoc report “Hạn mặn” (due 09/06/2025)"
