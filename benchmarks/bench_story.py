"""Story model figures, for each installed runtime (llama.cpp and transformers): how long the
shipped SmolLM2-135M GGUF takes to load, how much resident memory it adds, and how many
tokens a second it generates.

Each runtime is measured in a process of its own, so that one's memory does not count for
the other. transformers loads the GGUF file twice: first with an empty cache (the file is
converted to a float32 model folder, kept in a temporary museforge home), then from that
folder. Each time is the best of 3 (a shared machine is noisy), except the conversion, timed
once. Generation is ~128 tokens from a fixed prompt at temperature 0.7, seed 0, streamed
through ``LanguageModel.stream``; the rate counts the answer's tokens over the time from the
request to the last piece, so it includes reading the prompt.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from museforge.core.timing import best_of
from museforge.story.llm import default_threads, load_language_model, runtime_report, shipped_gguf

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


def measure(runtime: str, load_only: bool) -> dict:
    """One runtime's figures, in this process: the first load and the memory it added, the
    generation rate, then the best of 3 more loads (from the cache, for transformers)."""
    before = _rss_mb()
    start = time.perf_counter()
    model = load_language_model("smollm2", runtime=runtime)
    figures = {
        "first_load_s": round(time.perf_counter() - start, 3),
        "rss_added_by_model_mb": round(_rss_mb() - before, 1),
    }
    if load_only:
        return figures
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        text = model.complete(PROMPT, max_tokens=NEW_TOKENS, temperature=0.7, seed=0)
        runs.append((time.perf_counter() - start, model.count_tokens(text)))
    seconds, tokens = min(runs)
    rss_after_generation = _rss_mb()  # before the loads below add copies of the model
    load_s = best_of(lambda: load_language_model("smollm2", runtime=runtime))
    return figures | {
        "model_class": type(model).__name__,
        "context_tokens": model.n_ctx,
        "threads": default_threads(),  # torch's for transformers, which loads torch
        "load_s": round(load_s, 3),
        "rss_after_generation_mb": round(rss_after_generation, 1),
        "generated_tokens": tokens,
        "generate_s": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
    }


def _measure_apart(runtime: str, home: str, load_only: bool = False) -> dict:
    args = [sys.executable, __file__, runtime] + (["--load-only"] if load_only else [])
    env = os.environ | {"MUSEFORGE_HOME": home}
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    path = shipped_gguf()
    installed = runtime_report()["runtimes"]
    runtimes = []
    with tempfile.TemporaryDirectory() as home:
        if installed["llama.cpp"]:
            figures = _measure_apart("llama.cpp", home)
            runtimes.append({"runtime": f"llama-cpp-python {installed['llama.cpp']}"} | figures)
        if installed["transformers"]:
            converted = _measure_apart("transformers", home, load_only=True)
            figures = _measure_apart("transformers", home)
            runtimes.append(
                {
                    "runtime": f"transformers {installed['transformers']}",
                    "convert_and_load_s": converted["first_load_s"],
                    "rss_while_converting_mb": converted["rss_added_by_model_mb"],
                }
                | figures
            )
    print(
        json.dumps(
            {
                "benchmark": "story",
                "model": path.name,
                "model_mb": round(path.stat().st_size / 2**20, 1),
                "default_runtime": runtime_report()["runtime"],
                "runtimes": runtimes,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1], load_only="--load-only" in sys.argv)))
    else:
        main()
