"""``museforge story``: story premises from Tracery grammars, and a local language model
served over an OpenAI-compatible API."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Stories: premises from Tracery grammars, and a local language model served over "
    "an OpenAI-compatible API (a planner comes later).",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("premise")
def premise_cmd(
    grammar: Annotated[
        str,
        typer.Option(
            "--grammar",
            "-g",
            help="A shipped grammar (see `museforge story grammars`) or a Tracery JSON file.",
        ),
    ] = "premise",
    n: Annotated[int, typer.Option("--n", min=1, max=1000, help="How many premises.")] = 5,
    seed: Annotated[
        int,
        typer.Option(
            min=0, help="Seed: the same seed gives the same premises; fewer gives the first ones."
        ),
    ] = 0,
    symbol: Annotated[
        str, typer.Option(help="The symbol to expand (Tracery grammars start at origin).")
    ] = "origin",
    as_json: JsonOpt = False,
) -> None:
    """Print N story premises expanded from a grammar, one a line."""
    from museforge.story.grammar import load_grammar

    loaded = load_grammar(grammar)
    if symbol not in loaded.rules:
        raise typer.BadParameter(
            f"{grammar} has no symbol {symbol!r} (it has: {', '.join(loaded.rules)})",
            param_hint="--symbol",
        )
    premises = loaded.expand_many(n, f"#{symbol}#", seed=seed)
    if as_json:
        print(json.dumps(premises, indent=2, ensure_ascii=False))
    else:
        print("\n".join(premises))


@app.command("grammars")
def grammars_cmd(as_json: JsonOpt = False) -> None:
    """List the shipped grammars, each with one example (seed 0)."""
    from museforge.story.grammar import load_grammar, shipped_grammars

    examples = {name: load_grammar(name).expand(seed=0) for name in shipped_grammars()}
    if as_json:
        print(json.dumps(examples, indent=2, ensure_ascii=False))
        return
    table = Table("grammar", "example")
    for name, example in examples.items():
        table.add_row(name, example)
    Console().print(table)


@app.command("serve")
def serve_cmd(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="smollm2 (the shipped default), a .gguf file, or an OpenAI-compatible "
            "server's URL to pass on.",
        ),
    ] = "smollm2",
    host: Annotated[
        str,
        typer.Option(help="Address to listen on; anything but loopback needs --token."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8642,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="MUSEFORGE_SERVE_TOKEN",
            help="Clients must send 'Authorization: Bearer TOKEN' (the environment variable "
            "keeps it out of the process list).",
        ),
    ] = None,
) -> None:
    """Serve a language model at http://HOST:PORT/v1 for any OpenAI chat client, until Ctrl-C."""
    from museforge.story.llm import load_language_model
    from museforge.story.serve import check_exposure, listen, serve

    check_exposure(host, token)
    language_model = load_language_model(model)
    with listen(host, port) as sock:
        where = f"[{host}]" if ":" in host else host
        print(
            f"serving {language_model.name} at http://{where}:{port}/v1 (Ctrl-C stops)",
            file=sys.stderr,
        )
        serve(language_model, sock, token=token)
