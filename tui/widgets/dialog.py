"""The look every modal box shares (help, forms, confirmations), and its keys line.

One definition, so the dialogs of every pane look alike and a change of style is made once.
"""

from __future__ import annotations

from textual.content import Content


def dialog_css(cls: str, width: int = 90) -> str:
    """CSS for a modal screen ``cls`` whose body is a ``VerticalScroll``: a centred, bordered box that
    fits small terminals (never wider or taller than the screen), plus the field/hint classes."""
    return f"""
{cls} {{
    align: center middle;
}}
{cls} > VerticalScroll {{
    width: {width};
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: round $accent;
    border-title-color: $accent;
    border-title-style: bold;
    border-subtitle-color: $text-muted;
    background: $surface;
    padding: 0 1;
}}
{cls} .para {{ margin-top: 1; }}
{cls} .field {{ height: auto; }}
{cls} .field-label {{ width: 14; text-style: bold; }}
{cls} .field-body {{ width: 1fr; height: auto; }}
{cls} Input {{ width: 1fr; }}
{cls} .hint {{ color: $text-muted; height: auto; margin-bottom: 1; }}
{cls} .hint.-error {{ color: $text-error; text-style: bold; }}
{cls} .warning {{ color: $text-warning; text-style: bold; height: auto; margin-bottom: 1; }}
{cls} .keys {{ color: $text-muted; }}
"""


def keys_line(*pairs: tuple[str, str]) -> Content:
    """``Enter export  ·  Escape cancel`` with the keys in the accent colour."""
    parts: list[Content | str | tuple[str, str]] = []
    for i, (key, what) in enumerate(pairs):
        if i:
            parts.append("  ·  ")
        parts += [(key, "bold $text-accent"), f" {what}"]
    return Content.assemble(*parts)
