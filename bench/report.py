"""The table (stdout and Markdown) and the targets of issue 7, judged from one run's results."""

from __future__ import annotations

from typing import Any

from bench.util import ratio


def _get(d: Any, *path: Any) -> Any:
    for key in path:
        if d is None:
            return None
        d = d.get(key) if isinstance(d, dict) else (d[key] if isinstance(d, list) and len(d) > key else None)
    return d


def _write_path_measured(wp: dict[str, Any]) -> str:
    overall = f"{wp['registry']['req_per_s']} / {wp['bare_fastapi']['req_per_s']} req/s"
    rounds = wp.get("round_ratios")
    if not rounds:  # results written before the endpoints took turns
        return f"{overall} = {_pct(wp['ratio'])}"
    each = " / ".join(_pct(r) for r in rounds)
    return f"{_pct(wp['ratio'])} (median of rounds {each}; all rounds {overall})"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for wp in results.get("write_path", []):
        rows.append(
            {
                "target": f"HTTP write path ≥ 40 % of bare FastAPI one-insert (c={wp['concurrency']})",
                "measured": _write_path_measured(wp),
                "pass": wp["ratio"] is not None and wp["ratio"] >= 0.40,
            }
        )
    for service in ("indicators", "notifications"):
        d = _get(results, "consumers", service)
        if d:
            rows.append(
                {
                    "target": f"{service} consumer drain ≥ 10 % of raw aiokafka consume+commit",
                    "measured": f"{d['events_per_s']} / {d['raw_consume_commit']['msgs_per_s']} msg/s "
                    f"= {_pct(d['ratio'])}",
                    "pass": d["ratio"] is not None and d["ratio"] >= 0.10,
                }
            )
    scale = _measured(results.get("scale"))
    if len(scale) >= 2:
        small, large = scale[0], scale[-1]
        s, lg = small["incremental"]["p50_ms"], large["incremental"]["p50_ms"]
        growth = ratio(lg, s)
        rows.append(
            {
                "target": f"incremental update at {large['cooperatives']:,} within 2× of at {small['cooperatives']:,}",
                "measured": f"p50 {lg} ms vs {s} ms = ×{growth}",
                "pass": growth is not None and growth <= 2.0,
            }
        )
        rows.append(
            {
                "target": f"incremental ≥ 100× cheaper than full recompute at {large['cooperatives']:,}",
                "measured": f"{large['full_recompute_seconds']} s / {lg} ms = ×{large['recompute_over_incremental']}",
                "pass": (large["recompute_over_incremental"] or 0) >= 100,
            }
        )
    e2e = {row["offered_per_s"]: row for row in results.get("end_to_end") or []}
    if 200 in e2e and "error" in e2e[200]:
        rows.append(
            {
                "target": "end-to-end (report → alert + inbox) p99 < 1 s at 200 updates/s",
                "measured": f"not measured: {e2e[200]['error']}",
                "pass": False,
            }
        )
    elif 200 in e2e:
        p99 = e2e[200]["report_to_alert"]["p99_ms"]
        rows.append(
            {
                "target": "end-to-end (report → alert + inbox) p99 < 1 s at 200 updates/s",
                "measured": f"p99 {p99} ms (achieved {e2e[200]['achieved_per_s']}/s, "
                f"{e2e[200]['report_to_alert']['samples']} samples, {e2e[200]['alerts_missing']} missing)",
                "pass": p99 is not None and p99 < 1000 and e2e[200]["alerts_missing"] == 0,
            }
        )
    return rows


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Scenario 5: each figure over its raw floor, so runs on different machines compare."""
    f = results.get("floors", {})
    rt = _get(f, "kafka_round_trip")
    pg1 = _get(f, "asyncpg_insert_c1")
    out = []
    for wp in results.get("write_path", []):
        out.append(("write path req/s ÷ bare FastAPI one-insert req/s", f"c={wp['concurrency']}", wp["ratio"]))
        out.append(
            (
                "write path p50 ÷ bare FastAPI p50 (latency multiple)",
                f"c={wp['concurrency']}",
                ratio(wp["registry"]["p50_ms"], wp["bare_fastapi"]["p50_ms"]),
            )
        )
    for service in ("indicators", "notifications"):
        d = _get(results, "consumers", service)
        if d:
            out.append((f"{service} drain ev/s ÷ raw consume+commit msg/s", "", d["ratio"]))
    if rt:
        out.append(
            (
                "raw Kafka produce→consume msg/s ÷ raw consume+commit",
                "",
                ratio(rt["msgs_per_s"], _get(results, "consumers", "indicators", "raw_consume_commit", "msgs_per_s")),
            )
        )
    for row in _measured(results.get("end_to_end")):
        if rt:
            out.append(
                (
                    "report→alert p50 ÷ raw Kafka round-trip p50 (latency multiple)",
                    f"{row['offered_per_s']}/s",
                    ratio(row["report_to_alert"]["p50_ms"], rt["round_trip"]["p50_ms"]),
                )
            )
    for row in _measured(results.get("scale")):
        if pg1:
            out.append(
                (
                    "incremental update p50 ÷ asyncpg single-insert tx p50",
                    f"{row['cooperatives']:,}",
                    ratio(row["incremental"]["p50_ms"], pg1["p50_ms"]),
                )
            )
    return [{"figure": a, "at": b, "ratio": c} for a, b, c in out]


def _measured(rows: Any) -> list[dict[str, Any]]:
    """The rows of a stepped scenario that were measured (not failed or skipped)."""
    return [r for r in rows or [] if isinstance(r, dict) and "error" not in r and "skipped" not in r]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"# Benchmark {results['started_at']} ({'quick' if results['quick'] else 'full'})",
        "",
        f"Machine: {m['logical_cores']} logical cores ({m['cpu_model']}), {m['memory_total_mb']} MB RAM, "
        f"Python {m['python']}; Kafka: {results['infra']['kafka']}; PostgreSQL: {results['infra']['postgres']}. "
        f"Load average at start {results['load_average']['start']}, at end {results['load_average'].get('end')}. "
        f"Duration {results.get('duration_s')} s. Command: `{results['command']}`.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for t in targets(results):
        lines.append(f"| {t['target']} | {t['measured']} | {'PASS' if t['pass'] else 'FAIL'} |")
    f = results.get("floors", {})
    lines += ["", "## 1. Raw floors (same run)", "", "| floor | figure |", "|---|---|"]
    rt = f.get("kafka_round_trip")
    if rt:
        lines.append(
            f"| aiokafka produce→consume, {rt['payload_bytes']} B payload | {rt['msgs_per_s']} msg/s pipelined; "
            f"one at a time p50 {rt['round_trip']['p50_ms']} ms, p99 {rt['round_trip']['p99_ms']} ms |"
        )
    for service in ("indicators", "notifications"):
        raw = _get(results, "consumers", service, "raw_consume_commit")
        if raw:
            lines.append(
                f"| aiokafka consume + commit per fetch ({service} input, {raw['messages']} msgs) "
                f"| {raw['msgs_per_s']} msg/s |"
            )
    for key in ("asyncpg_insert_c1", "asyncpg_insert_c10"):
        pg = f.get(key)
        if pg:
            lines.append(
                f"| asyncpg single-row INSERT transactions, {pg['concurrency']} connection(s) | {pg['tx_per_s']} tx/s, "
                f"p50 {pg['p50_ms']} ms |"
            )
    wp = results.get("write_path", [])
    if wp:
        lines += [
            "",
            "## 2. Write path: POST status-reports vs bare FastAPI one-insert (same concurrency, same client)",
            "",
            "| concurrency | registry req/s | p50 | p95 | p99 ms | bare req/s | bare p50 | p99 ms "
            "| ratio (median of rounds) | errors |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in wp:
            a, b = r["registry"], r["bare_fastapi"]
            lines.append(
                f"| {r['concurrency']} | {a['req_per_s']} | {a['p50_ms']} | {a['p95_ms']} | {a['p99_ms']} | "
                f"{b['req_per_s']} | {b['p50_ms']} | {b['p99_ms']} | {_pct(r['ratio'])} | {a['errors']} |"
            )
    cons = results.get("consumers")
    if cons:
        lines += [
            "",
            "## Consumers draining a pre-filled topic",
            "",
            "| consumer | events | seconds | events/s | raw msg/s | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for service, d in cons.items():
            lines.append(
                f"| {service} | {d['events']} | {d['seconds']} | {d['events_per_s']} | "
                f"{d['raw_consume_commit']['msgs_per_s']} | {_pct(d['ratio'])} |"
            )
    e2e = results.get("end_to_end") or []
    if e2e:
        lines += [
            "",
            "## 3. End to end: report accepted → value → target status → alert (+ inbox)",
            "",
            "| offered/s | achieved/s | HTTP p99 | →value p50/p99 | →target status p50/p99 | →alert p50 | p95 "
            "| p99 ms | samples (missing) | drain after stop s | sustained |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in e2e:
            if "error" in r:
                lines.append(f"| {r['offered_per_s']} | **{r['error']}** |  |  |  |  |  |  |  |  |  |")
                continue
            v, t, a = r["report_to_value"], r["report_to_target_status"], r["report_to_alert"]
            lines.append(
                f"| {r['offered_per_s']} | {r['achieved_per_s']} | {r['http']['p99_ms']} "
                f"| {v['p50_ms']}/{v['p99_ms']} | {t['p50_ms']}/{t['p99_ms']} | {a['p50_ms']} | {a['p95_ms']} "
                f"| {a['p99_ms']} | {a['samples']} ({r['alerts_missing']}) | {r['drain_after_stop_s']} "
                f"| {'yes' if r['sustained'] else 'no'} |"
            )
        ms = results.get("end_to_end_max_sustained") or {}
        best = ms.get("max_sustained_offered_per_s")
        lines.append("")
        lines.append(
            "Max sustained rate among those tested: "
            + (f"{best} updates/s" if best else f"none (below {ms.get('lowest_offered_per_s')} updates/s)")
            + f"; best rate absorbed end to end (reports ÷ time until both consumer groups were idle): "
            f"{ms.get('best_absorbed_per_s')} updates/s."
        )
        cpu_rows = [r for r in e2e if r.get("cpu_ms_per_report")]
        if cpu_rows:
            roles = sorted({role for r in cpu_rows for role in r["cpu_ms_per_report"]})
            lines += [
                "",
                "CPU per report while the load ran, by process (ms; the machine has "
                f"{results.get('machine', {}).get('logical_cores', '?')} cores; busy % is of one core):",
                "",
                "| offered/s | " + " | ".join(roles) + " | machine busy % |",
                "|---" * (len(roles) + 2) + "|",
            ]
            for r in cpu_rows:
                cells = " | ".join(str(r["cpu_ms_per_report"].get(role, "")) for role in roles)
                lines.append(f"| {r['offered_per_s']} | {cells} | {r['cpu_busy_percent']} |")
    sc = results.get("scale") or []
    if sc:
        lines += [
            "",
            "## 4. Scale",
            "",
            "| cooperatives | incremental p50 | p95 ms | full recompute s | recompute ÷ incremental | import rows/s | "
            "peak RSS registry / indicators / notifications MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sc:
            if "skipped" in r or "error" in r:
                lines.append(f"| {r['cooperatives']:,} | **{r.get('skipped') or r.get('error')}** |  |  |  |  |  |")
                continue
            rss = r["peak_rss_mb"]
            lines.append(
                f"| {r['cooperatives']:,} | {r['incremental']['p50_ms']} | {r['incremental']['p95_ms']} | "
                f"{r['full_recompute_seconds']} | ×{r['recompute_over_incremental']} | {r['import_rows_per_s']} | "
                f"{rss.get('registry')} / {rss.get('indicators')} / {rss.get('notifications')} |"
            )
    lines += _profiled_repeats(results.get("profiled_repeats") or {})
    rs = ratios(results)
    if rs:
        lines += ["", "## 5. Ratios to the raw floors", "", "| figure | at | ratio |", "|---|---|---|"]
        lines += [f"| {r['figure']} | {r['at']} | {r['ratio']} |" for r in rs]
    peaks = results.get("peak_rss_mb", {})
    if peaks:
        lines += [
            "",
            "## Peak RSS per phase (MB)",
            "",
            "| phase | registry | indicators | notifications |",
            "|---|---|---|---|",
        ]
        for phase, values in peaks.items():
            lines.append(
                f"| {phase} | {values.get('registry')} | {values.get('indicators')} | {values.get('notifications')} |"
            )
    return "\n".join(lines) + "\n"


def _profiled_repeats(profiled: dict[str, Any]) -> list[str]:
    """The repeats run with py-spy attached: what the profiles below saw, and what sampling cost the figures."""
    rows = []
    for service, d in (profiled.get("consumers") or {}).items():
        rows.append(f"| {service} draining | {d['events_per_s']} events/s ({_pct(d['ratio'])} of raw) |")
    for r in profiled.get("end_to_end") or []:
        if "error" in r:
            rows.append(f"| end to end at {r['offered_per_s']}/s | **{r['error']}** |")
            continue
        rows.append(
            f"| end to end at {r['offered_per_s']}/s, registry profiled | report→alert p99 "
            f"{r['report_to_alert']['p99_ms']} ms, HTTP p99 {r['http']['p99_ms']} ms |"
        )
    for step, trace in (profiled.get("errors") or {}).items():
        rows.append(f"| {step} | **failed**: {trace.strip().splitlines()[-1]} |")
    if not rows:
        return []
    return [
        "",
        "## Profiled repeats (py-spy attached; not used for the targets)",
        "",
        "Each profiled step is a repeat of a measured one: on this machine the sampler's own CPU changes the figures.",
        "",
        "| step | figure |",
        "|---|---|",
        *rows,
    ]
