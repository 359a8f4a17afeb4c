"""Story model figures: how long the shipped SmolLM2-135M GGUF takes to load in llama.cpp,
how much resident memory it adds, and how many tokens a second it generates.

Each time is the best of 3 (a shared machine is noisy). Generation is ~128 tokens from a
fixed prompt at temperature 0.7, seed 0, streamed through ``LanguageModel.stream``; the
rate counts the answer's tokens over the time from the request to the last piece, so it
includes reading the prompt.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from museforge.core.timing import best_of
from museforge.story.llm import LlamaCppModel, default_threads, runtime_report, shipped_gguf

NEW_TOKENS = 128
PROMPT = [
    {"role": "system", "content": "You are a storyteller who writes vivid, concrete prose."},
    {"role": "user", "content": "Write the opening of a story about a lighthouse keeper."},
]


def _rss_mb() -> float:
    """This process's resident memory now (Linux), else its peak so far."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def main() -> None:
    path = shipped_gguf()
    before = _rss_mb()
    model = LlamaCppModel(path)
    loaded = _rss_mb()
    load_s = best_of(lambda: LlamaCppModel(path))

    runs = []
    for _ in range(3):
        start = time.perf_counter()
        text = model.complete(PROMPT, max_tokens=NEW_TOKENS, temperature=0.7, seed=0)
        runs.append((time.perf_counter() - start, model.count_tokens(text)))
    seconds, tokens = min(runs)
    print(
        json.dumps(
            {
                "benchmark": "story",
                "model": path.name,
                "model_mb": round(path.stat().st_size / 2**20, 1),
                "runtime": runtime_report()["runtime"],
                "context_tokens": model.n_ctx,
                "threads": default_threads(),
                "load_s": round(load_s, 3),
                "rss_added_by_model_mb": round(loaded - before, 1),
                "rss_after_generation_mb": round(_rss_mb(), 1),
                "generated_tokens": tokens,
                "generate_s": round(seconds, 3),
                "tokens_per_s": round(tokens / seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
