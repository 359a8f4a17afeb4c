"""``museforge story``: story premises from Tracery grammars."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Stories: premises from Tracery grammars (a planner and a language model come later).",
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
