"""Inference throughput: decisions/s of the Crafter policy against the local ``/v1/chat/completions``.

The routes (services/training/inference/routes.py) are served by uvicorn on loopback in this process;
the policy is the collector's own ``OpenAIChatPolicy`` (system prompt, real Crafter observations as
user messages, the ``interact_many`` tool, greedy). Decisions are timed at concurrency 1 and 8: at
8 the worker answers the requests that wait together with one batched ``generate`` call (up to 8
rows), so concurrency shows that speed-up as well as the queueing and HTTP overhead. Also reported:
the worker's own generate time per decision, tokens per decision and the share of answers with a
parseable tool call.

    uv run python bench/bench_inference.py [--model-dir DIR] [--decisions 40] [--max-tokens 40]

Without ``--model-dir`` a random tiny Qwen3 (the test fixture's, ~0.03 M parameters, 400-token
vocabulary) is built; pass the built-in ``sft-studio/tiny-qwen3`` folder (or a fine-tuned output) for
the figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before site-packages: opensimplex 0.3 ships a top-level `tests`

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from services.crafter.env import CrafterTextEnv  # noqa: E402
from services.crafter.observation import format_observation  # noqa: E402
from services.crafter.prompt import SYSTEM_PROMPT, user_message  # noqa: E402
from services.rollouts.openai_policy import OpenAIChatPolicy  # noqa: E402
from services.training.inference.client import InferenceWorker  # noqa: E402
from services.training.inference.routes import make_inference_router  # noqa: E402

MODEL_ID = "bench-model"


def prompts(n: int) -> list[str]:
    """Real Crafter user messages: the first observations of seeded worlds."""
    texts = []
    for seed in range(n):
        state = CrafterTextEnv(seed, cache_worlds=False).reset()
        texts.append(user_message(format_observation(state, 50)))
    return texts


def serve(folder: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    app = FastAPI()
    app.include_router(make_inference_router({MODEL_ID: folder}.get, lambda: [MODEL_ID], worker=InferenceWorker()))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


async def run(url: str, texts: list[str], concurrency: int, max_tokens: int) -> dict[str, Any]:
    policy = OpenAIChatPolicy(model=MODEL_ID, inference_url=url, api_key="", temperature=0.0, max_tokens=max_tokens)
    sem = asyncio.Semaphore(concurrency)
    results: list[Any] = []

    async def one(text: str) -> None:
        async with sem:
            results.append(await policy.decide(SYSTEM_PROMPT, text))

    async with policy:
        await policy.decide(SYSTEM_PROMPT, texts[0])  # load the model
        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        wall = time.perf_counter() - started
    lat = sorted(r.latency_ms for r in results)
    return {
        "concurrency": concurrency,
        "decisions": len(results),
        "decisions_per_s": len(results) / wall,
        "p50_ms": statistics.median(lat),
        "p95_ms": lat[int(0.95 * (len(lat) - 1))],
        "prompt_tokens": statistics.mean(r.input_tokens or 0 for r in results),
        "completion_tokens": statistics.mean(r.output_tokens or 0 for r in results),
        "tool_call_ok": sum(r.tool_call_ok for r in results) / len(results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, help="model folder (default: build a random tiny Qwen3)")
    parser.add_argument("--decisions", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=40)
    args = parser.parse_args()
    folder = args.model_dir
    with tempfile.TemporaryDirectory() as tmp:
        if folder is None:
            from tests.services.training.inference_tiny_model import build_tiny_model

            folder = build_tiny_model(Path(tmp) / "tiny")
        texts = prompts(args.decisions)
        print(f"model {folder}  decisions {len(texts)}  max_tokens {args.max_tokens}  load {os.getloadavg()[0]:.2f}")
        server, thread, url = serve(folder)
        try:
            for concurrency in (1, 8):
                r = asyncio.run(run(url, texts, concurrency, args.max_tokens))
                print(
                    f"concurrency {r['concurrency']}: {r['decisions_per_s']:.1f} decisions/s, "
                    f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
                    f"{r['prompt_tokens']:.0f} prompt + {r['completion_tokens']:.1f} completion tokens, "
                    f"tool calls ok {r['tool_call_ok']:.0%}"
                )
        finally:
            server.should_exit = True
            thread.join(30)
        print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
