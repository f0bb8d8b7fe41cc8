"""Is a target on track? The Open SDG / Statistics Canada method, with the numbers behind every verdict.

Observed growth from the baseline to the latest value is compared with the growth required to reach the
target by its deadline: R = observed ÷ required, both as compound annual growth rates (or as linear rates
when a value is zero or negative, where compound growth is undefined — e.g. "% change vs. baseline"
indicators, which start at 0). Then:

    achieved       the latest value meets the target
    missed         the deadline has passed and it does not
    insufficient_data  fewer than two values (a baseline and a later one)
    deteriorating  R < 0 (moving away from the target), or the baseline met it and the value fell below
    off_track      0 ≤ R < 0.6
    at_risk        0.6 ≤ R < 0.95
    on_track       R ≥ 0.95

Yes/no targets (each district has ≥ 1 model cooperative) are `achieved` or `not_achieved` (then `missed`
after the deadline). A projected value at the deadline comes from a linear trend fitted by weighted least
squares, the most recent values weighing most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.indicators.domain.periods import years_between

ON_TRACK = Decimal("0.95")
AT_RISK = Decimal("0.6")

STATUS_VI = {
    "achieved": "đã đạt",
    "on_track": "đúng tiến độ",
    "at_risk": "có nguy cơ không đạt",
    "off_track": "chậm tiến độ",
    "deteriorating": "đang xấu đi",
    "missed": "không đạt (đã quá hạn)",
    "not_achieved": "chưa đạt",
    "insufficient_data": "chưa đủ số liệu",
    "qualitative": "chỉ tiêu định tính, không đo tự động",
}


@dataclass(frozen=True)
class Point:
    on: date
    value: Decimal


@dataclass(frozen=True)
class Goal:
    threshold: Decimal
    deadline: date
    direction: str = "increase"  # or "decrease"
    strict: bool = False
    yes_no: bool = False


@dataclass(frozen=True)
class Progress:
    status: str
    ratio: Decimal | None
    baseline: Point | None
    current: Point | None
    projection: Decimal | None
    explanation: str


def _met(goal: Goal, value: Decimal) -> bool:
    if goal.direction == "increase":
        return value > goal.threshold if goal.strict else value >= goal.threshold
    return value < goal.threshold if goal.strict else value <= goal.threshold


def project(points: list[Point], on: date) -> Decimal | None:
    """Weighted least-squares line through the points (weights 1, 2, … n, oldest first), read at `on`."""
    if len(points) < 2:
        return None
    origin = points[0].on
    xs = [years_between(origin, p.on) for p in points]
    ys = [float(p.value) for p in points]
    ws = [float(i + 1) for i in range(len(points))]
    total = sum(ws)
    mean_x = sum(w * x for w, x in zip(ws, xs, strict=True)) / total
    mean_y = sum(w * y for w, y in zip(ws, ys, strict=True)) / total
    spread = sum(w * (x - mean_x) ** 2 for w, x in zip(ws, xs, strict=True))
    if spread == 0:
        return None
    slope = sum(w * (x - mean_x) * (y - mean_y) for w, x, y in zip(ws, xs, ys, strict=True)) / spread
    return Decimal(str(round(mean_y + slope * (years_between(origin, on) - mean_x), 4)))


def _rate(start: Decimal, end: Decimal, years: float) -> float:
    """Compound annual growth rate when both values are positive, else the linear rate per year."""
    if start > 0 and end > 0:
        return float((end / start) ** Decimal(1 / years) - 1) if years > 0 else math.nan
    return float(end - start) / years if years > 0 else math.nan


def _fmt(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "—"
    text = f"{value:,.2f}".replace(",", " ").replace(".", ",")
    text = text.rstrip("0").rstrip(",") if "," in text else text
    return f"{text}{'%' if unit == '%' else (' ' + unit if unit else '')}"


def evaluate(goal: Goal, baseline: Point | None, points: list[Point], today: date, *, unit: str = "") -> Progress:
    """`points` are the indicator's values from the baseline period on, oldest first."""
    current = points[-1] if points else None
    projection = project(points, goal.deadline)
    sign = "≥" if goal.direction == "increase" else "≤"
    if goal.strict:
        sign = ">" if goal.direction == "increase" else "<"
    target_text = f"mục tiêu {sign} {_fmt(goal.threshold, unit)} trước {goal.deadline:%d/%m/%Y}"

    def verdict(status: str, ratio: Decimal | None, reason: str) -> Progress:
        parts = []
        if baseline is not None:
            parts.append(f"giá trị gốc {_fmt(baseline.value, unit)} ({baseline.on:%d/%m/%Y})")
        if current is not None:
            parts.append(f"hiện tại {_fmt(current.value, unit)} ({current.on:%d/%m/%Y})")
        parts.append(target_text)
        if projection is not None:
            parts.append(f"dự báo đến hạn {_fmt(projection, unit)}")
        if ratio is not None:
            parts.append(f"R = {str(ratio).replace('.', ',')}")
        text = f"{STATUS_VI[status].capitalize()} ({status}): {reason}. " + "; ".join(parts) + "."
        return Progress(status, ratio, baseline, current, projection, text)

    if current is not None and _met(goal, current.value):
        return verdict("achieved", None, "giá trị hiện tại đạt mục tiêu")
    if today > goal.deadline:
        return verdict("missed", None, "đã quá hạn mà chưa đạt mục tiêu")
    if goal.yes_no:
        if current is None:
            return verdict("insufficient_data", None, "chưa có số liệu")
        return verdict("not_achieved", None, "chưa đạt")
    if baseline is None or current is None or len(points) < 2 or current.on <= baseline.on:
        return verdict("insufficient_data", None, "cần ít nhất hai kỳ số liệu (kỳ gốc và một kỳ sau)")

    if _met(goal, baseline.value):
        return verdict("deteriorating", None, "kỳ gốc đã đạt mục tiêu nhưng giá trị đã giảm xuống dưới")
    observed = _rate(baseline.value, current.value, years_between(baseline.on, current.on))
    required = _rate(baseline.value, goal.threshold, years_between(baseline.on, goal.deadline))
    if not math.isfinite(observed) or not math.isfinite(required) or required == 0:
        return verdict("insufficient_data", None, "không tính được tốc độ tăng trưởng")
    ratio = Decimal(str(round(observed / required, 3)))
    if ratio < 0:
        status, reason = "deteriorating", "đang đi ngược hướng mục tiêu"
    elif ratio < AT_RISK:
        status, reason = "off_track", "tốc độ thực tế dưới 60% tốc độ cần thiết"
    elif ratio < ON_TRACK:
        status, reason = "at_risk", "tốc độ thực tế bằng 60–95% tốc độ cần thiết"
    else:
        status, reason = "on_track", "tốc độ thực tế đủ để đạt mục tiêu đúng hạn"
    return verdict(status, ratio, reason)
