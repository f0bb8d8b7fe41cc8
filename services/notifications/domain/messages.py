"""What an alert says, in Vietnamese (the default) or English, with the numbers behind it.

An alert keeps in `data` everything its text is made of (`data["template"]` names the template), so the
text can be rendered again in any language: the alert's own title/body are stored in its agency's language,
and a channel set to another language renders `render(alert.data, language)` itself. Numbers are written
the way each language writes them (Vietnamese: 1.234,5; English: 1,234.5) and dates as dd/mm/yyyy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

LANGUAGES = ("vi", "en")

STATUS = {
    "vi": {
        "achieved": "đã đạt",
        "on_track": "đúng tiến độ",
        "at_risk": "có nguy cơ không đạt",
        "off_track": "chậm tiến độ",
        "deteriorating": "đang xấu đi",
        "missed": "không đạt (đã quá hạn)",
        "not_achieved": "chưa đạt",
        "insufficient_data": "chưa đủ số liệu",
        "qualitative": "định tính",
    },
    "en": {
        "achieved": "achieved",
        "on_track": "on track",
        "at_risk": "at risk",
        "off_track": "off track",
        "deteriorating": "deteriorating",
        "missed": "missed (deadline passed)",
        "not_achieved": "not achieved",
        "insufficient_data": "insufficient data",
        "qualitative": "qualitative",
    },
}
ROLE = {
    "vi": {"lead": "chủ trì", "coordinating": "phối hợp", "owner": "thực hiện", "fallback": "nhận thay"},
    "en": {"lead": "lead", "coordinating": "coordinating", "owner": "responsible", "fallback": "fallback"},
}


class Message(NamedTuple):
    title: str
    body: str


def fmt_date(value: str | date | None) -> str:
    if value is None:
        return "—"
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%d/%m/%Y")


def fmt_number(value: Any, language: str) -> str:
    """`65.5000` → `65,5` (vi) or `65.5` (en); thousands grouped; at most two decimals; None → —."""
    if value is None:
        return "—"
    try:
        number = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return str(value)
    text = f"{number:,.2f}".rstrip("0").rstrip(".")
    if language == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def _lang(language: str | None) -> str:
    return language if language in LANGUAGES else "vi"


def report_label(data: Mapping[str, Any], language: str) -> str:
    kind, period = data.get("report_kind"), str(data.get("period", ""))
    year = period[:4]
    if kind == "semi_annual":
        return f"báo cáo 6 tháng đầu năm {year}" if language == "vi" else f"semi-annual report (first half of {year})"
    if kind == "annual":
        return f"báo cáo năm {year}" if language == "vi" else f"annual report for {year}"
    title = data.get("request_title") or period
    return f"báo cáo đột xuất “{title}”" if language == "vi" else f"ad-hoc report “{title}”"


def _numbers(data: Mapping[str, Any], lang: str) -> str:
    n = {k: fmt_number(data.get(k), lang) for k in ("target", "current", "projection")}
    deadline = fmt_date(data.get("deadline"))
    if lang == "vi":
        return f"Mục tiêu: {n['target']}; hiện tại: {n['current']}; dự báo đến hạn: {n['projection']}; hạn: {deadline}."
    return f"Target: {n['target']}; current value: {n['current']}; projection: {n['projection']}; due: {deadline}."


def _target_risk(d: Mapping[str, Any], lang: str) -> Message:
    status, code, unit = STATUS[lang].get(d["status"], d["status"]), d["target_code"], d["unit_code"]
    role = ROLE[lang].get(d.get("role", "lead"), "")
    if lang == "vi":
        return Message(
            f"Cảnh báo chỉ tiêu {code} (đơn vị {unit}): {status}",
            f"Chỉ tiêu {code} tại đơn vị hành chính {unit} đang ở tình trạng «{status}». {_numbers(d, lang)} "
            f"Vai trò của cơ quan: {role}. {d.get('explanation') or ''}".strip(),
        )
    return Message(
        f"Target {code} ({unit}) is {status}",
        f"Target {code} in administrative unit {unit} is now {status}. {_numbers(d, lang)} Your role: {role}.",
    )


def _target_recovered(d: Mapping[str, Any], lang: str) -> Message:
    status, code, unit = STATUS[lang].get(d["status"], d["status"]), d["target_code"], d["unit_code"]
    if d.get("resolution") == "rerouted":
        if lang == "vi":
            return Message(
                f"Chuyển giao cảnh báo chỉ tiêu {code} (đơn vị {unit})",
                f"Theo phân công mới, cảnh báo về chỉ tiêu {code} tại đơn vị {unit} không còn giao cho cơ quan.",
            )
        return Message(
            f"Target {code} ({unit}) alert reassigned",
            f"Under the new routing, the alert on target {code} in unit {unit} no longer goes to your agency.",
        )
    if lang == "vi":
        return Message(
            f"Chỉ tiêu {code} (đơn vị {unit}) đã trở lại: {status}",
            f"Chỉ tiêu {code} tại đơn vị hành chính {unit} nay «{status}»; cảnh báo được đóng. {_numbers(d, lang)}",
        )
    return Message(
        f"Target {code} ({unit}) is back: {status}",
        f"Target {code} in administrative unit {unit} is now {status}; the alert is closed. {_numbers(d, lang)}",
    )


def _target_deadline(d: Mapping[str, Any], lang: str) -> Message:
    status, code, unit = STATUS[lang].get(d["status"], d["status"]), d["target_code"], d["unit_code"]
    days, deadline = d.get("days_left"), fmt_date(d.get("deadline"))
    if d.get("closed"):
        if lang == "vi":
            return Message(
                f"Chỉ tiêu {code} (đơn vị {unit}): {status}",
                f"Đã hết thời gian nhắc hạn cho chỉ tiêu {code} (hạn {deadline}): tình trạng «{status}».",
            )
        return Message(
            f"Target {code} ({unit}): {status}",
            f"Deadline reminders for target {code} (due {deadline}) are over: it is {status}.",
        )
    if lang == "vi":
        return Message(
            f"Nhắc hạn chỉ tiêu {code} (đơn vị {unit}): còn {days} ngày",
            f"Chỉ tiêu {code} tại đơn vị hành chính {unit} chưa đạt (tình trạng «{status}»), còn {days} ngày "
            f"đến hạn {deadline}. {_numbers(d, lang)}",
        )
    return Message(
        f"Target {code} ({unit}) due in {days} days",
        f"Target {code} in administrative unit {unit} is not achieved yet ({status}); {days} days left until "
        f"{deadline}. {_numbers(d, lang)}",
    )


def _deadline(d: Mapping[str, Any], lang: str) -> Message:
    report, due = report_label(d, lang), fmt_date(d.get("due_on"))
    template = d["template"]
    to = d.get("authority", "SNN")
    if template == "deadline_met":
        late, submitted = int(d.get("days_late") or 0), fmt_date(d.get("submitted_on"))
        if lang == "vi":
            suffix = f", trễ {late} ngày so với hạn {due}" if late else f", đúng hạn ({due})"
            return Message(f"Đã nhận {report}", f"Đã ghi nhận {report} nộp ngày {submitted}{suffix}.")
        suffix = f", {late} days after the due date {due}" if late else f", on time (due {due})"
        return Message(f"Received: {report}", f"The {report} was submitted on {submitted}{suffix}.")
    if template == "deadline_overdue":
        days = d.get("days_overdue")
        if lang == "vi":
            return Message(
                f"Quá hạn nộp {report} (hạn {due})",
                f"{report.capitalize()} gửi {to} đã quá hạn {days} ngày (hạn cuối {due}). "
                "Đề nghị khẩn trương gửi báo cáo.",
            )
        return Message(
            f"Overdue: {report} (due {due})",
            f"The {report} to {to} is {days} days overdue (last day {due}). Please submit it as soon as possible.",
        )
    days = d.get("days_left")
    if lang == "vi":
        left = "hôm nay là ngày cuối" if days == 0 else f"còn {days} ngày"
        head = "Yêu cầu" if template == "deadline_requested" else "Nhắc hạn nộp"
        return Message(
            f"{head} {report} (hạn {due})",
            f"{report.capitalize()} cần gửi {to} chậm nhất hết ngày {due} ({left}). "
            "Căn cứ mục V.8 Kế hoạch 219/KH-UBND.",
        )
    left = "today is the last day" if days == 0 else f"{days} days left"
    head = "Requested" if template == "deadline_requested" else "Reminder"
    return Message(f"{head}: {report} (due {due})", f"The {report} is due to {to} by the end of {due} ({left}).")


TEMPLATES: dict[str, Callable[[Mapping[str, Any], str], Message]] = {
    "target_risk": _target_risk,
    "target_recovered": _target_recovered,
    "target_deadline": _target_deadline,
    "deadline_requested": _deadline,
    "deadline_reminder": _deadline,
    "deadline_overdue": _deadline,
    "deadline_met": _deadline,
}


def render(data: Mapping[str, Any], language: str | None = "vi") -> Message:
    """The title and body of an alert from its `data`, in `language` (anything but `en` is Vietnamese)."""
    return TEMPLATES[data["template"]](data, _lang(language))
