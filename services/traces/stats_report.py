"""Plain-text stats report: our header, then the five sections in analyze_trace_db.py's layout.

The sections reproduce the reference script's text line for line (same widths, same rounding), so
users can diff the two; the header and the notes are ours and say what the reference cannot.
"""

from __future__ import annotations

from services.traces.stats_models import TraceStats


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def header_lines(stats: TraceStats) -> list[str]:
    h = stats.header
    m = h.malformed
    lines = [
        f"Trace DB: {h.path}" + (f"  ({h.resolved_path})" if h.resolved_path != h.path else ""),
        f"  size={human_size(h.size_bytes)} | flavour=synth-ai {h.flavour} | journal={h.journal_mode}"
        f" | opened {h.read_mode}",
        f"  sessions={h.sessions} | events={h.events} | LM calls={h.lm_calls}"
        f" | time range={h.first_session_at or '-'} .. {h.last_session_at or '-'}",
        f"  achievement keys={h.key_style.value} | malformed rows skipped={m.total}"
        + (
            f" (annotation={m.event_reward_annotation}, event metadata={m.event_metadata},"
            f" outcome metadata={m.outcome_reward_metadata}, bad turn={m.turn_not_integer},"
            f" outcome reward not a number={m.outcome_total_reward})"
            if m.total
            else ""
        ),
    ]
    lines += [f"  note: {n}" for n in stats.notes]
    lines += [f"  unavailable: {why}" for why in stats.unavailable.values()]
    return lines


def model_usage_section(stats: TraceStats) -> str:
    if not stats.model_usage:
        return "No model usage recorded."
    header = f"{'Model':30} {'Provider':10} {'Calls':>7} {'Tokens (in/out)':>20} {'Avg latency ms':>15}"
    lines = ["Model usage (by LLM calls):", header, "-" * len(header)]
    for m in stats.model_usage:
        # The reference labels this column in/out but prints total/out; we keep its figures.
        lines.append(
            f"{m.model_name[:30]:30} {(m.provider or '')[:10]:10} {m.calls:7d} "
            f"{m.total_tokens:10d}/{m.output_tokens:>8d} {m.avg_latency_ms:15.1f}"
        )
    return "\n".join(lines)


def reward_section(stats: TraceStats) -> str:
    lines = ["Episode outcome rewards:"]
    o = stats.outcome
    if o is None:
        lines.append(f"  (unavailable: {stats.unavailable.get('outcome', 'no outcome_rewards table')})")
    elif o.episodes:
        lines.append(
            f"  Episodes: {o.episodes} | total={o.total_reward:.2f} | avg={o.avg_reward:.2f} | "
            f"min/max={o.min_reward:.2f}/{o.max_reward:.2f}"
        )
    else:
        lines.append("  (no outcome rewards recorded)")
    lines += ["", "Event reward breakdown (event_rewards table):"]
    if stats.reward_types is None:
        lines.append(f"  (unavailable: {stats.unavailable.get('reward_types', 'no event_rewards table')})")
    elif stats.reward_types:
        header = f"{'Reward type':20} {'Events':>8} {'Total value':>14} {'Avg value':>12}"
        lines += [header, "-" * len(header)]
        for r in stats.reward_types:
            name = r.reward_type if r.reward_type is not None else "(none)"
            lines.append(f"{name[:20]:20} {r.events:8d} {r.total_value:14.3f} {r.avg_value:12.3f}")
    else:
        lines.append("  (no event rewards recorded)")
    return "\n".join(lines)


def achievement_section(stats: TraceStats) -> str:
    a = stats.achievements
    lines = ["Unique achievements unlocked:"]
    if a.name_counts:
        lines += [f"  {name:25} -> {count}" for name, count in a.name_counts]
    else:
        lines.append("  (none recorded)")
    lines += ["", "Sessions bucketed by unique achievement count:"]
    if a.size_counts:
        lines += [f"  {size:2d} unique -> {n} session(s)" for size, n in a.size_counts.items()]
    else:
        lines.append("  (no sessions with achievements)")
    return "\n".join(lines)


def per_model_section(stats: TraceStats) -> str:
    if not stats.per_model:
        return "Achievement stats by model:\n  (no model sessions recorded)"
    lines = ["Achievement stats by model:"]
    for m in stats.per_model:
        lines.append(f"  {m.model_name} (providers: {', '.join(m.providers) or '-'})")
        lines.append(
            f"    sessions={m.sessions} with_unique={m.sessions_with_unique} "
            f"avg_unique={m.avg_unique:.2f} max_unique={m.max_unique}"
        )
        if m.achievement_counts:
            lines.append("    achievements:")
            lines += [f"      {name}: {count}" for name, count in m.achievement_counts]
        else:
            lines.append("    achievements: none")
    return "\n".join(lines)


def reference_sections(stats: TraceStats) -> str:
    """The five sections exactly as analyze_trace_db.py prints them (blank line between)."""
    parts = [
        model_usage_section(stats),
        reward_section(stats),
        achievement_section(stats),
        per_model_section(stats),
    ]
    return "\n\n".join(parts) + "\n"


def full_report(stats: TraceStats) -> str:
    return "\n".join(header_lines(stats)) + "\n\n" + reference_sections(stats)
