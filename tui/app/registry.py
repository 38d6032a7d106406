"""The pane registry: every pane of the app, in tab order. Number key N goes to the N-th pane.

How to add a pane:
1. Make its folder ``tui/panes/<id>/`` with ``spec.py`` holding ``SPEC = PaneSpec(...)`` (see
   ``tui.app.pane_spec``): title, summary, help, keys, palette commands, and ``plans`` while it is not built.
2. Put ``SPEC`` into ``PANES`` below, where its tab should be. Nothing else: the app builds its tab, number
   key, keys, palette entries, F1 help and (``factory`` None) a "not built yet" placeholder from it.
3. To build it, write ``pane.py`` and give the spec a ``factory`` that imports it (on first use).
"""

from __future__ import annotations

from tui.app.pane_spec import PaneSpec
from tui.panes.configs.spec import SPEC as CONFIGS
from tui.panes.eval.spec import SPEC as EVAL
from tui.panes.filters.spec import SPEC as FILTERS
from tui.panes.jobs.spec import SPEC as JOBS
from tui.panes.runs.spec import SPEC as RUNS
from tui.panes.traces.spec import SPEC as TRACES

PANES: tuple[PaneSpec, ...] = (TRACES, FILTERS, CONFIGS, JOBS, EVAL, RUNS)
