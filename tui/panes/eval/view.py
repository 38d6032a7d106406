"""What the Eval pane shows, as text and table rows: live progress, a result, the saved list, a comparison.

No widgets here (the pane fills them), so each figure's wording is tested without an app. Nothing
shows a clock: rates and counts say enough, and screenshots stay the same from run to run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.content import Content

from services.common.echo import cap_echo
from services.evals.stats_math import p_eq
from services.traces.achievement_keys import ACHIEVEMENTS
from tui.widgets.bars import BarRow
from tui.widgets.compare_bars import PairRow
from tui.widgets.tables import Row, right

if TYPE_CHECKING:  # scoring pulls in numpy: imported when a result is shown
    from services.evals.compare import Comparison
    from services.evals.episode import EpisodeResult
    from services.evals.launcher import EvalProgress
    from services.evals.results import EvalResult

#: (column key, label) of the per-episode table; achievements last (the widest, scrolls sideways).
EPISODE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("seed", "Seed"),
    ("unique", "Unique"),
    ("return", "Return"),
    ("decisions", "Dec."),
    ("steps", "Steps"),
    ("died", "Died"),
    ("failures", "Bad calls"),
    ("tokens", "Tokens"),
    ("latency", "ms/dec"),
    ("achievements", "Achievements"),
)
#: (column key, label) of the saved-evals table.
SAVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mark", "  "),
    ("model", "Model"),
    ("seeds", "Seeds"),
    ("episodes", "Eps"),
    ("score", "Score %"),
    ("unique", "Unique"),
    ("eval_id", "Eval id"),
)


def _ci(ci: Sequence[float], fmt: str = ".1f") -> str:
    return f"{ci[0]:{fmt}}–{ci[1]:{fmt}}"


def short_achievement(name: str) -> str:
    """``collect_wood`` → ``wood``, ``place_table`` → ``place table``, ``defeat_zombie`` → ``defeat zombie``."""
    return name.removeprefix("collect_").removeprefix("make_").replace("_", " ")


# ------------------------------------------------------------------------------------------- live


def progress_text(p: EvalProgress) -> str:
    """``episodes m/n · N dec/s · mean unique x.x · k of 22 achievements so far · f bad tool calls``."""
    parts = [
        f"episodes {p.episodes_done:,}/{p.episodes_total:,}",
        f"{p.decisions:,} decisions",
        f"{p.decisions_per_s:,.1f} dec/s",
        f"mean unique {p.mean_unique:.1f}",
        f"{len(p.achievements)} of {len(ACHIEVEMENTS)} achievements so far",
    ]
    if p.tool_call_failures:
        parts.append(f"{p.tool_call_failures:,} bad tool calls")
    if p.notice:
        parts.append(f"retry {p.server_retries:,}: {cap_echo(p.notice, 160)}")
    return " · ".join(parts)


def progress_bars(p: EvalProgress) -> list[BarRow]:
    """Episodes so far that unlocked each achievement, in Crafter's order."""
    return [BarRow(name, p.achievements.get(name, 0)) for name in ACHIEVEMENTS]


# ----------------------------------------------------------------------------------------- result


def episode_row(e: EpisodeResult) -> Row:
    achievements = ", ".join(short_achievement(a) for a in e.achievements) or "—"
    if e.error:
        achievements = f"{achievements}  ({cap_echo(e.error, 80)})"
    return (
        str(e.seed),
        [
            right(str(e.seed)),
            right(str(e.unique)),
            right(f"{e.total_reward:g}"),
            right(f"{e.decisions:,}"),
            right(f"{e.steps:,}"),
            Text("died" if e.died else "", style="bold red" if e.died else ""),
            right(f"{e.tool_call_failures:,}" if e.tool_call_failures else "0"),
            right(f"{e.total_tokens:,}" if e.total_tokens else "—"),
            right(f"{e.mean_latency_ms:,.0f}" if e.mean_latency_ms else "—"),
            Text(achievements),
        ],
    )


def episode_rows(episodes: Sequence[EpisodeResult]) -> list[Row]:
    return [episode_row(e) for e in sorted(episodes, key=lambda e: e.seed)]


def settings_line(result: EvalResult) -> str:
    s = result.settings
    parts = [
        f"seeds {_seeds_text(result.seeds)} ({len(result.seeds)})",
        f"max turns {s.get('max_turns')}",
        f"concurrency {s.get('concurrency')}",
    ]
    if result.policy == "openai":
        parts.append(f"temperature {s.get('temperature')}")
    parts.append("traced" if s.get("trace_db") else "not traced")
    return " · ".join(parts)


def _seeds_text(seeds: Sequence[int]) -> str:
    from services.evals.results import seeds_text

    return seeds_text(list(seeds))


def result_summary(result: EvalResult) -> Content:
    """Three or four lines: what was evaluated, the score with its interval, the other figures."""
    a = result.aggregate
    half = (a.mean_unique_ci[1] - a.mean_unique_ci[0]) / 2
    lines = [
        Content.assemble((cap_echo(result.model, 80), "bold $text-primary"), f"  ·  {result.backend}"),
        Content.assemble(("  " + settings_line(result), "$foreground-muted")),
        Content.assemble(
            "Crafter score ",
            (f"{a.crafter_score:.2f} %", "bold"),
            f" (95 % CI {_ci(a.crafter_score_ci, '.2f')})  ·  mean unique ",
            (f"{a.mean_unique:.2f} ± {half:.2f}", "bold"),
            f" (CI {_ci(a.mean_unique_ci, '.2f')})",
        ),
        Content.assemble(
            f"{a.episodes} episodes  ·  tool-call failures ",
            (f"{100.0 * a.tool_call_failure_rate:.1f} %", "bold"),
            f"  ·  {a.decisions_per_s:,.1f} dec/s",
            f"  ·  {a.tokens_per_s:,.0f} tok/s" if a.total_tokens else "",
            f"  ·  mean return {a.mean_return:.2f}  ·  died {a.died}/{a.episodes}",
        ),
    ]
    if result.stopped:
        lines.append(Content.styled(f"Stopped early ({result.stopped}): finished episodes kept.", "bold $text-warning"))
    if a.failed_episodes or a.partial_episodes:
        lines.append(
            Content.styled(
                f"{a.failed_episodes} episode(s) failed before playing (not scored), {a.partial_episodes} partial.",
                "$text-warning",
            )
        )
    if result.leakage is not None:
        lines.append(Content.styled(f"⚠ Seed leakage: {result.leakage.message}", "bold $text-warning"))
    return Content("\n").join(lines)


def achievement_bars(result: EvalResult) -> list[BarRow]:
    """Episodes that unlocked each of the 22 achievements (the chart's total is the episode count)."""
    n = result.aggregate.episodes
    return [BarRow(name, round(result.aggregate.success_rates.get(name, 0.0) * n)) for name in ACHIEVEMENTS]


# ------------------------------------------------------------------------------------------ saved


def saved_rows(manifests: Sequence[Mapping[str, Any]], marks: Mapping[str, str]) -> list[Row]:
    """One row per saved eval (newest first), with its A/B mark for the comparison."""
    rows: list[Row] = []
    for m in manifests:
        eval_id = str(m.get("eval_id", ""))
        mark = marks.get(eval_id, "")
        score = m.get("crafter_score")
        unique = m.get("mean_unique")
        rows.append(
            (
                eval_id,
                [
                    Text(mark, style="bold reverse" if mark else ""),
                    Text(cap_echo(str(m.get("model", "?")), 48)),
                    Text(str(m.get("seeds", ""))),
                    right(str(m.get("episodes", ""))),
                    right(f"{score:.2f}" if isinstance(score, int | float) else "—"),
                    right(f"{unique:.2f}" if isinstance(unique, int | float) else "—"),
                    Text(eval_id, style="dim"),
                ],
            )
        )
    return rows


# ------------------------------------------------------------------------------------- comparison


def comparison_summary(c: Comparison) -> Content:
    """Who was compared, the verdict, and the two differences with their intervals."""
    colour = {"better": "$text-success", "worse": "$text-error"}.get(c.verdict, "$text-warning")
    common = f"{c.seeds} common seeds"
    if c.only_a or c.only_b:
        common += f" ({c.only_a} only in A, {c.only_b} only in B: not counted)"
    return Content("\n").join(
        [
            Content.assemble(("A ", "bold $text-accent"), cap_echo(c.a_model, 60), ("  ", ""), (c.a_id, "dim")),
            Content.assemble(("B ", "bold $text-secondary"), cap_echo(c.b_model, 60), ("  ", ""), (c.b_id, "dim")),
            Content.assemble(
                "Verdict: A is ",
                (
                    c.verdict if c.verdict != "no detectable difference" else "not detectably different",
                    f"bold {colour}",
                ),
                f" {'than' if c.verdict != 'no detectable difference' else 'from'} B at {common}",
            ),
            Content.assemble(
                "Crafter score ",
                (f"{c.score_a:.2f}", "bold"),
                " vs ",
                (f"{c.score_b:.2f}", "bold"),
                ": ",
                (f"{c.score_diff:+.2f}", f"bold {colour}"),
                f" points (95 % CI {c.score_diff_ci[0]:+.2f} to {c.score_diff_ci[1]:+.2f})",
            ),
            Content.assemble(
                "Unique per seed ",
                (f"{c.mean_unique_a:.2f}", "bold"),
                " vs ",
                (f"{c.mean_unique_b:.2f}", "bold"),
                ": ",
                (f"{c.mean_diff:+.2f}", f"bold {colour}"),
                f" (95 % CI {c.mean_diff_ci[0]:+.2f} to {c.mean_diff_ci[1]:+.2f}), paired t test p {p_eq(c.p_value)}",
            ),
        ]
    )


def comparison_rows(c: Comparison) -> list[PairRow]:
    return [PairRow(d.name, d.a, d.b) for d in c.achievements]
