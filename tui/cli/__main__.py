"""``python -m tui.cli``: the sft-studio command."""

from tui.cli import main

raise SystemExit(main())
