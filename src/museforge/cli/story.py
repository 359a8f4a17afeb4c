"""``museforge story``: story premises from Tracery grammars, and a local language model
served over an OpenAI-compatible API."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from museforge.story.cowrite import Version

app = typer.Typer(
    help="Stories: premises from Tracery grammars, a planner that writes whole stories with a "
    "language model, co-writing part by part, and the model served over an OpenAI-compatible "
    "API.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class Runtime(StrEnum):
    auto = "auto"
    llama_cpp = "llama.cpp"
    transformers = "transformers"


RuntimeOpt = Annotated[
    Runtime | None,
    typer.Option(
        help="What runs a local model: llama.cpp (fast; installing it compiles it), "
        "transformers (no compiler, slower), or auto: llama.cpp where it is installed, "
        "else transformers. [default: $MUSEFORGE_LLM_RUNTIME, else auto]",
        show_default=False,
    ),
]


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


@app.command("models")
def models_cmd(
    measure: Annotated[
        bool, typer.Option("--measure", help="Generate a few tokens with each to time it.")
    ] = False,
    runtime: RuntimeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the story models on this machine (the shipped one and those in
    $MUSEFORGE_HOME/models), with their size and, with --measure, tokens per second."""
    from museforge.story import models

    found = models.local_models()
    if measure:
        found = [models.measure(m, runtime.value if runtime else None) for m in found]
    rows = [
        {"model": m.name, "path": str(m.path), "mb": m.mb, "tokens_per_s": m.tokens_per_s}
        for m in found
    ]
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("model (--model)", "MB", "tokens/s", "path")
    for row in rows:
        speed = "-" if row["tokens_per_s"] is None else f"{row['tokens_per_s']:g}"
        table.add_row(row["model"], f"{row['mb']:g}", speed, row["path"])
    Console().print(table)
    print(f"more: put a .gguf file or a model folder in {models.models_dir()}")


@app.command("pull")
def pull_cmd(
    name: Annotated[str, typer.Argument(help="A curated model's name (qwen2.5-coder-1.5b).")],
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="A JSON file of models to pull by name, each with its hub repository, "
            "revision (a commit), file, sha256 and size, instead of the curated list."
        ),
    ] = None,
) -> None:
    """Download a curated model from the Hugging Face hub ($HF_ENDPOINT, else huggingface.co)
    at its pinned revision into $MUSEFORGE_HOME/models, checked against its pinned sha256;
    then --model NAME selects it."""
    from museforge.story.pull import pull

    with Console(stderr=True).status(f"pulling {name}"):
        path = pull(name, manifest)
    print(f"{path}: --model {name}")


@app.command("serve")
def serve_cmd(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="smollm2 (the shipped default), a .gguf file, a Hugging Face model folder, "
            "or an OpenAI-compatible server's URL to pass on.",
        ),
    ] = "smollm2",
    runtime: RuntimeOpt = None,
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
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Another name clients may use for this server in their Host header "
            "(loopback names and --host are always allowed); repeat for more.",
        ),
    ] = None,
    queue: Annotated[
        int, typer.Option(min=0, max=1000, help="Requests that may wait; more get HTTP 429.")
    ] = 8,
    time_limit: Annotated[
        float,
        typer.Option(min=1, max=86400, help="Seconds one request may take, waiting included."),
    ] = 300.0,
) -> None:
    """Serve a language model at http://HOST:PORT/v1 for any OpenAI chat client, until Ctrl-C."""
    from museforge.story.llm import load_language_model
    from museforge.story.serve import Limits, check_exposure, listen, serve

    check_exposure(host, token)
    hosts = (host, *(allow_host or []))
    language_model = load_language_model(model, runtime)
    with listen(host, port) as sock:
        where = f"[{host}]" if ":" in host else host
        print(
            f"serving {language_model.name} at http://{where}:{port}/v1 (Ctrl-C stops)",
            file=sys.stderr,
        )
        serve(language_model, sock, token=token, hosts=hosts, limits=Limits(queue, time_limit))


# -- co-writing: every version of every part of a story, kept in the store --------------

StoryIdArg = Annotated[
    int, typer.Argument(help="The story's number, as `museforge story list` shows it.")
]
NodeArg = Annotated[
    str,
    typer.Argument(
        help="The part of the story: premise, logline, title, characters, beats, scene/1, ..."
    ),
]


class ExportFormat(StrEnum):
    md = "md"
    fountain = "fountain"


@app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """List the stories in the store, newest first."""
    from museforge.core.store import Store
    from museforge.story.cowrite import list_stories

    with Store() as store:
        stories = list_stories(store)
    if as_json:
        rows = [{"id": s.id, "label": s.label, "nodes": s.nodes} for s in stories]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not stories:
        print("no stories yet")
        return
    table = Table("id", "story", "nodes", "created")
    for s in stories:
        table.add_row(str(s.id), s.label, ", ".join(s.nodes), f"{s.created:%Y-%m-%d %H:%M}")
    Console().print(table)


@app.command("show")
def show_cmd(
    story_id: StoryIdArg,
    node: Annotated[
        str | None, typer.Option("--node", help="Print this part's current text.")
    ] = None,
    with_history: Annotated[
        bool,
        typer.Option("--history", help="List every version, * marking the current one."),
    ] = False,
) -> None:
    """Show a story's parts, one part's current text, or the versions of its parts."""
    from museforge.core.store import Store
    from museforge.story import cowrite

    with Store() as store:
        if node is not None and not with_history:
            print(cowrite.current_text(store, story_id, node))
            return
        names = [node] if node is not None else cowrite.nodes(store, story_id)
        histories = {name: cowrite.history(store, story_id, name) for name in names}
    console = Console()
    if with_history:
        for name, versions in histories.items():
            table = Table(
                " ", "version", "how", "from", "model", "seed", "created", "text", title=name
            )
            for v in versions:
                table.add_row(
                    "*" if v.current else "",
                    str(v.number),
                    v.how,
                    "" if v.parent is None else str(v.parent),
                    v.model_id or "",
                    "" if v.seed is None else str(v.seed),
                    f"{v.created:%Y-%m-%d %H:%M}",
                    _first_line(v.text),
                )
            console.print(table)
        return
    table = Table("part", "current", "versions", "how", "text", title=f"story {story_id}")
    for name, versions in histories.items():
        current = next((v for v in versions if v.current), None)
        if current is None:  # only proposals so far
            table.add_row(name, "-", str(len(versions)), "", "")
            continue
        table.add_row(
            name, str(current.number), str(len(versions)), current.how, _first_line(current.text)
        )
    console.print(table)


@app.command("edit")
def edit_cmd(
    story_id: StoryIdArg,
    node: NodeArg,
    text: Annotated[str | None, typer.Option("--text", help="The new text.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the new text from this UTF-8 file.")
    ] = None,
) -> None:
    """Write a part by hand: the text becomes a new version and the current one."""
    from museforge.core.store import Store
    from museforge.errors import BadInputFile, require_file
    from museforge.story.cowrite import edit

    if (text is None) == (file is None):
        raise typer.BadParameter(
            "give the new text with --text or with --file", param_hint="--text"
        )
    if file is not None:
        try:
            text = require_file(file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BadInputFile(file, "is not UTF-8 text") from None
    assert text is not None
    with Store() as store:
        version = edit(store, story_id, node, text)
    _say_current(story_id, version)


@app.command("undo")
def undo_cmd(story_id: StoryIdArg, node: NodeArg) -> None:
    """Make the version that was current before the last change current again."""
    from museforge.core.store import Store
    from museforge.story.cowrite import undo

    with Store() as store:
        version = undo(store, story_id, node)
    _say_current(story_id, version)


@app.command("restore")
def restore_cmd(
    story_id: StoryIdArg,
    node: NodeArg,
    version: Annotated[
        int, typer.Argument(min=1, help="The version to bring back (see `show --history`).")
    ],
) -> None:
    """Bring back an earlier version's text as a new current version; nothing is deleted."""
    from museforge.core.store import Store
    from museforge.story.cowrite import restore

    with Store() as store:
        restored = restore(store, story_id, node, version)
    _say_current(story_id, restored)


@app.command("export")
def export_cmd(
    story_id: StoryIdArg,
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="md (Markdown) or fountain (a Fountain screenplay)."),
    ] = ExportFormat.md,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of printing.")
    ] = None,
) -> None:
    """Export the current text of every part as Markdown or Fountain."""
    from museforge.core.atomic import atomic_write_text
    from museforge.core.store import Store
    from museforge.story.cowrite import export_fountain, export_markdown

    with Store() as store:
        exporter = export_markdown if fmt is ExportFormat.md else export_fountain
        document = exporter(store, story_id)
    if out is None:
        sys.stdout.write(document)
        return
    atomic_write_text(out.expanduser(), document)
    print(f"wrote {out}", file=sys.stderr)


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


class StructureName(StrEnum):
    three_acts = "three-acts"
    hero = "hero"
    kishotenketsu = "kishotenketsu"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@app.command("new")
def new_cmd(
    premise: Annotated[
        str,
        typer.Argument(
            help="What the story is about, in a sentence or two (2,000 characters at most)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for plan.json, plan.md and story.md.")
    ],
    structure: Annotated[
        StructureName,
        typer.Option(
            "--structure",
            "-s",
            help="three-acts (6 beats), hero (the hero's journey, 8 beats) or kishotenketsu (4).",
        ),
    ] = StructureName.three_acts,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="smollm2 (the shipped default), a .gguf file, a Hugging Face model folder, "
            "or an OpenAI-compatible server's URL.",
        ),
    ] = "smollm2",
    runtime: RuntimeOpt = None,
    seed: Annotated[
        int, typer.Option(min=0, max=2**31 - 1, help="Seed: the same seed gives the same story.")
    ] = 0,
    words: Annotated[
        int, typer.Option(min=50, max=20_000, help="Write until the story has this many words.")
    ] = 800,
    drafts: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="Drafts of each scene; the one that repeats least, keeps to its "
            "beat and names its cast is kept.",
        ),
    ] = 2,
    max_drafts: Annotated[
        int,
        typer.Option(
            min=1,
            max=8,
            help="More drafts of a scene, up to this many, while every draft so far repeats "
            "the story before it (rep-4 over 0.04).",
        ),
    ] = 5,
    small_model: Annotated[
        bool,
        typer.Option(
            "--small-model/--no-small-model",
            help="Refuse plan answers that are chatter or echo the prompt (for tiny models; a "
            "stronger model needs no such checks).",
        ),
    ] = True,
) -> None:
    """Plan a story level by level (logline, title, characters, beats, scenes), then write
    its prose scene by scene; save plan.json, plan.md and story.md in --out."""
    from museforge.core.store import Store
    from museforge.errors import make_out_dir
    from museforge.story.cowrite import keep_plan
    from museforge.story.levels import plan_story
    from museforge.story.llm import load_language_model
    from museforge.story.plan import check_premise
    from museforge.story.prose import write_story
    from museforge.story.render import plan_markdown, story_markdown
    from museforge.story.small_model import ON

    premise = check_premise(premise)
    language_model = load_language_model(model, runtime)
    console = Console(stderr=True)
    with console.status("planning") as status:
        pieces = 0
        stage = "planning"

        def progress(message: str) -> None:
            nonlocal pieces, stage
            pieces, stage = 0, message
            status.update(message)

        def piece(_text: str) -> None:
            nonlocal pieces
            pieces += 1
            status.update(f"{stage} ({pieces} tokens)")

        plan = plan_story(
            language_model,
            premise,
            structure.value,
            seed=seed,
            on_progress=progress,
            profile=ON if small_model else None,
        )
        write_story(
            language_model,
            plan,
            words,
            drafts=drafts,
            on_progress=progress,
            on_piece=piece,
            max_drafts=max_drafts,
        )
    folder = make_out_dir(out)
    _write_atomically(
        folder / "plan.json", json.dumps(plan.to_dict(), indent=2, ensure_ascii=False) + "\n"
    )
    _write_atomically(folder / "plan.md", plan_markdown(plan))
    _write_atomically(folder / "story.md", story_markdown(plan))
    with Store() as store:
        story_id = keep_plan(store, plan)
    print(f"{plan.word_count()} words in {len(plan.scenes)} scenes: {folder / 'story.md'}")
    print(f"story {story_id} in the store: museforge story show {story_id} --history")
    if plan.notes:
        print(f"{len(plan.notes)} notes on fallbacks and repairs: {folder / 'plan.md'}")


# -- co-writing with a language model: alternatives, continuations, rewrites -------------

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="smollm2 (the shipped default), a .gguf file, a Hugging Face model folder, or an "
        "OpenAI-compatible server's URL.",
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        min=0, max=2**31 - 1, help="Seed: the same seed and story give the same text again."
    ),
]
COWRITE_HELP = (
    "r NODE: regenerate 3 alternatives | a NODE VERSION: accept one | e NODE: edit (end with "
    "a line holding only '.') | u NODE: undo | c: continue the story | s NODE: show | q: quit"
)


def _check_story(store, story_id: int) -> list[str]:
    """The story's nodes; an unknown story fails here, before any model is loaded."""
    from museforge.story.cowrite import nodes

    return nodes(store, story_id)


def _say_current(story_id: int, version: Version) -> None:
    print(f"story {story_id} {version.node}: version {version.number} is current")


def _print_alternatives(story_id: int, node: str, versions: list) -> None:
    """Each alternative with its version, seed, distinct-2 and Self-BLEU against the others,
    then the set's Vendi score, and how to accept one."""
    from museforge.core.creativity import bleu, distinct_n, tokens
    from museforge.errors import UserError
    from museforge.story.metrics import alternatives_report

    texts = [v.text for v in versions]
    for i, v in enumerate(versions):
        measures = f"distinct-2 {distinct_n([v.text], 2):.2f}"
        others = [tokens(t) for j, t in enumerate(texts) if j != i]
        if others:
            measures += f"  self-BLEU {bleu(tokens(v.text), others):.2f}"
        print(f"--- version {v.number} (seed {v.seed})  {measures}")
        print(v.text.strip())
    if len(texts) > 1:
        try:
            report = alternatives_report(texts)
            print(
                f"--- the {len(texts)} alternatives: Vendi {report['vendi']:.2f} "
                f"({report['vendi_features']}), distinct-2 {report['distinct_2']:.2f}, "
                f"self-BLEU {report['self_bleu']:.2f}"
            )
        except UserError as exc:
            print(f"--- the alternatives cannot be compared: {exc.message}")
    numbers = ", ".join(str(v.number) for v in versions)
    print(f"accept one ({numbers}): museforge story accept {story_id} {node} VERSION")


@app.command("regenerate")
def regenerate_cmd(
    story_id: StoryIdArg,
    node: Annotated[
        str,
        typer.Argument(help="The part to write again: logline, title, characters, beats, scene/N."),
    ],
    n: Annotated[int, typer.Option("--n", min=1, max=8, help="How many alternatives.")] = 3,
    seed: SeedOpt = 0,
    model: ModelOpt = "smollm2",
    runtime: RuntimeOpt = None,
) -> None:
    """Write N alternatives for a part from the story's current texts; none becomes current
    until you accept one."""
    from museforge.core.store import Store
    from museforge.story.cowrite_llm import check_generated_node, regenerate
    from museforge.story.llm import load_language_model

    with Store() as store:
        _check_story(store, story_id)
        check_generated_node(node)
        language_model = load_language_model(model, runtime)
        with Console(stderr=True).status(f"writing {n} alternatives for {node}"):
            versions = regenerate(store, language_model, story_id, node, n, seed)
    _print_alternatives(story_id, node, versions)


@app.command("accept")
def accept_cmd(
    story_id: StoryIdArg,
    node: NodeArg,
    version: Annotated[
        int, typer.Argument(min=1, help="The version to make current (see `show --history`).")
    ],
) -> None:
    """Make one version of a part, such as a regenerated alternative, the current one."""
    from museforge.core.store import Store
    from museforge.story.cowrite import accept

    with Store() as store:
        chosen = accept(store, story_id, node, version)
    _say_current(story_id, chosen)


@app.command("continue")
def continue_cmd(
    story_id: StoryIdArg,
    words: Annotated[int, typer.Option(min=1, max=2000, help="About how many words to add.")] = 150,
    seed: SeedOpt = 0,
    model: ModelOpt = "smollm2",
    runtime: RuntimeOpt = None,
    new_scene: Annotated[
        bool,
        typer.Option("--new-scene", help="Start the next scene instead of adding to the last."),
    ] = False,
) -> None:
    """Add prose to the last scene (a new current version) or write the next scene."""
    from museforge.core.store import Store
    from museforge.story.cowrite_llm import continue_story
    from museforge.story.llm import load_language_model

    with Store() as store:
        _check_story(store, story_id)
        language_model = load_language_model(model, runtime)
        with Console(stderr=True).status("writing"):
            version = continue_story(
                store, language_model, story_id, words, seed, new_scene=new_scene
            )
    print(version.text.strip())
    _say_current(story_id, version)


@app.command("rewrite")
def rewrite_cmd(
    story_id: StoryIdArg,
    node: NodeArg,
    start: Annotated[
        int, typer.Option("--start", min=0, help="First character of the selection (from 0).")
    ],
    end: Annotated[int, typer.Option("--end", min=1, help="Character after the selection's last.")],
    instruction: Annotated[
        str,
        typer.Option(
            "--instruction", "-i", help='How to rewrite it, e.g. "more tension" (500 characters).'
        ),
    ],
    seed: SeedOpt = 0,
    model: ModelOpt = "smollm2",
    runtime: RuntimeOpt = None,
) -> None:
    """Rewrite a character range of a part's current text following an instruction; the
    rest of the text stays as it is, and the result becomes current."""
    from museforge.core.store import Store
    from museforge.story.cowrite import current_text
    from museforge.story.cowrite_llm import MAX_INSTRUCTION_CHARS, check_instruction, rewrite
    from museforge.story.llm import load_language_model

    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise typer.BadParameter(
            f"{len(instruction)} characters; the limit is {MAX_INSTRUCTION_CHARS}",
            param_hint="--instruction",
        )
    instruction = check_instruction(instruction)
    with Store() as store:
        _check_story(store, story_id)
        current_text(store, story_id, node)
        language_model = load_language_model(model, runtime)
        with Console(stderr=True).status(f"rewriting {node} {start}:{end}"):
            version = rewrite(store, language_model, story_id, node, start, end, instruction, seed)
    print(version.text.strip())
    _say_current(story_id, version)


def _parts_table(store, story_id: int) -> Table:
    from museforge.story.cowrite import history

    table = Table("part", "current", "versions", "text", title=f"story {story_id}")
    for name in _check_story(store, story_id):
        versions = history(store, story_id, name)
        current = next((v for v in versions if v.current), None)
        number = "-" if current is None else str(current.number)
        text = "" if current is None else _first_line(current.text)
        table.add_row(name, number, str(len(versions)), text)
    return table


def _read_until_dot() -> str:
    """Lines from stdin up to one that holds only '.' (or the end of input)."""
    lines = []
    while True:
        try:
            line = input()
        except EOFError:
            break
        if line.strip() == ".":
            break
        lines.append(line)
    return "\n".join(lines)


@app.command("cowrite")
def cowrite_cmd(
    story_id: StoryIdArg, model: ModelOpt = "smollm2", runtime: RuntimeOpt = None
) -> None:
    """Write a story with the model, step by step: regenerate, accept, edit, undo, continue
    and show its parts; every step is kept in the store at once."""
    from rich.prompt import Prompt

    from museforge.core.store import Store
    from museforge.errors import UserError
    from museforge.story import cowrite
    from museforge.story.cowrite_llm import check_generated_node, continue_story, regenerate
    from museforge.story.llm import LanguageModel, load_language_model

    console = Console()
    loaded: list[LanguageModel] = []
    seed = 0  # moves on with every generation, so asking again gives new text

    def language_model() -> LanguageModel:
        if not loaded:
            loaded.append(load_language_model(model, runtime))
        return loaded[0]

    with Store() as store:
        console.print(_parts_table(store, story_id))
        console.print(COWRITE_HELP)
        while True:
            try:
                line = Prompt.ask(f"story {story_id}", console=console)
            except EOFError:
                break
            verb, *args = line.split() or [""]
            try:
                if verb in ("q", "quit"):
                    break
                if verb in ("r", "regenerate") and len(args) == 1:
                    check_generated_node(args[0])
                    versions = regenerate(store, language_model(), story_id, args[0], 3, seed)
                    seed += len(versions)
                    _print_alternatives(story_id, args[0], versions)
                elif verb in ("a", "accept") and len(args) == 2 and args[1].isdigit():
                    cowrite.accept(store, story_id, args[0], int(args[1]))
                    console.print(_parts_table(store, story_id))
                elif verb in ("e", "edit") and len(args) == 1:
                    console.print(f"new text for {args[0]}; end with a line holding only '.'")
                    version = cowrite.edit(store, story_id, args[0], _read_until_dot())
                    console.print(f"{args[0]}: version {version.number} is current")
                elif verb in ("u", "undo") and len(args) == 1:
                    version = cowrite.undo(store, story_id, args[0])
                    console.print(f"{args[0]}: version {version.number} is current")
                elif verb in ("c", "continue") and not args:
                    version = continue_story(store, language_model(), story_id, 150, seed)
                    seed += 1
                    print(version.text.strip())
                    console.print(f"{version.node}: version {version.number} is current")
                elif verb in ("s", "show") and len(args) == 1:
                    print(cowrite.current_text(store, story_id, args[0]))
                else:
                    console.print(COWRITE_HELP)
            except UserError as exc:
                print(f"error: {' '.join(exc.message.split())}", file=sys.stderr)
