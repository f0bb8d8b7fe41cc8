"""Vietnamese e-mail subjects and bodies survive encoding, folding and parsing, whatever their length."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtplib.email import flatten_message

from services.notifications.domain.email import build_message

SUBJECTS = [
    "[HTX Monitor] Tổng hợp ngày 03/06/2025: 3 thông báo",
    "[HTX Monitor] Cảnh báo: Nhắc hạn nộp báo cáo 6 tháng đầu năm 2025 (hạn 10/06/2025)",
    "[HTX Monitor] Cảnh báo: Cảnh báo chỉ tiêu II.2.e (đơn vị 92): có nguy cơ không đạt",
    "[HTX Monitor] Nhắc lại: Quá hạn nộp báo cáo đột xuất “HTX ứng dụng công nghệ cao” (hạn 10/12/2025)",
]


@pytest.mark.parametrize("subject", [s + " đủ" * n for s in SUBJECTS for n in range(0, 40, 3)])
def test_subject_and_body_round_trip(subject: str) -> None:
    body = "Báo cáo 6 tháng đầu năm 2025 cần gửi SNN chậm nhất hết ngày 10/06/2025 (còn 7 ngày).\n" * 3
    message = build_message(
        "HTX Monitor <canhbao@htx-monitor.cantho.gov.vn>",
        "vanthu@phongdien.cantho.gov.vn",
        subject,
        body,
        delivery_id="5b7e2a90-1c3d-4e5f-a6b7-c8d9e0f1a2b3",
        now=datetime(2025, 6, 3, 1, 0, tzinfo=UTC),
        event="alert.opened",
    )
    raw = flatten_message(message)  # exactly what aiosmtplib puts on the wire
    assert max(len(line) for line in raw.splitlines()) <= 100  # folded (RFC 5322 allows 998)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == subject
    assert parsed.get_content() == body
    assert parsed["Message-ID"] == "<5b7e2a90-1c3d-4e5f-a6b7-c8d9e0f1a2b3@htx-monitor.cantho.gov.vn>"


def test_line_breaks_in_headers_are_refused() -> None:
    with pytest.raises(ValueError, match="line breaks"):
        build_message("a@b.vn", "x@y.vn\r\nBcc: z@w.vn", "s", "b", delivery_id="d", now=datetime.now(UTC), event="e")
