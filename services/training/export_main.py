"""The export child: ``python -m services.training.export_main SOURCE DEST`` (imports torch).

Prints one JSON line, ``{"ok": true, "dest": ...}`` or ``{"ok": false, "error": ...}``; the
traceback of an unexpected failure goes to stderr. See services/training/export_model.py.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(json.dumps({"ok": False, "error": "usage: export_main SOURCE DEST"}))
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from services.training.sft_trainer import merge_lora
        from services.training.train_settings import TrainerFailure

        try:
            dest = merge_lora(Path(args[0]), Path(args[1]))
        except TrainerFailure as exc:
            print(json.dumps({"ok": False, "error": str(exc)}))
            return 1
    except ImportError as exc:
        print(json.dumps({"ok": False, "error": f"the training stack is not installed ({exc.name})"}))
        return 1
    except Exception as exc:  # the child's last word: a reason, never silence
        traceback.print_exc()
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps({"ok": True, "dest": str(dest)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
