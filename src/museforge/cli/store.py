"""``museforge store``: browse, rate and export what museforge has made, with its lineage.

A thin layer over :class:`museforge.core.store.Store`; the store checks every value and
raises ``UserError`` for anything a person can fix.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from museforge.core import store_check
from museforge.core.store import Artifact, Edge, LineageNode, NoStoreYet, Store
from museforge.errors import NotFoundInStore, UserError

app = typer.Typer(
    help="Browse, rate and export the artifacts museforge has made, with their lineage.",
    no_args_is_help=True,
)
console = Console()

IdArg = Annotated[str, typer.Argument(help="Artifact id, or a unique prefix of 4+ hex digits.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("list")
def list_artifacts(
    kind: Annotated[
        str | None, typer.Option(help="Only artifacts of this kind, e.g. melody or image.")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Only artifacts of this project.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Only those made by this model (a name or name@hash).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Only those made with this seed.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only those made at or after this UTC date or time.")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only those made before this UTC time; a date alone includes its day."),
    ] = None,
    note: Annotated[
        str | None, typer.Option(help="Only those whose note contains this text (any case).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List artifacts, newest first."""
    filters = {
        "kind": kind,
        "project": project,
        "model": model,
        "seed": seed,
        "since": None if since is None else _moment(since, "--since", end_of_day=False),
        "until": None if until is None else _moment(until, "--until", end_of_day=True),
        "note": note,
    }
    try:
        store = Store(create=False)
    except NoStoreYet as empty:
        if as_json:
            typer.echo("[]")
        else:
            console.print(Text(f"no artifacts yet ({empty})"))
        return
    with store:
        artifacts = store.list_artifacts(limit=limit, **filters)
        records = store.records(artifacts) if as_json else []
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    if not artifacts:
        console.print("no artifacts yet" if not any(filters.values()) else "no artifacts match")
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=12)
    for name in ("kind", "media type", "size", "seed"):
        table.add_column(name)
    table.add_column("created", no_wrap=True)
    table.add_column("note", overflow="fold")
    for a in artifacts:
        table.add_row(
            a.id[:12],
            a.kind,
            a.media_type,
            f"{a.size:,}",
            "" if a.seed is None else str(a.seed),
            f"{a.created:%Y-%m-%d %H:%M}",
            Text(a.note or ""),
        )
    console.print(table)


@app.command()
def show(artifact_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show everything the store knows about one artifact."""
    with _existing_store(artifact_id) as store:
        artifact = store.get(artifact_id)
        if as_json:
            record = store.records([artifact])[0]
            record["file_path"] = str(store.path_of(artifact))
            record["children"] = [
                {"id": e.artifact.id, "relation": e.relation} for e in store.children(artifact.id)
            ]
            typer.echo(json.dumps(record, indent=2))
            return
        fields = Table.grid(padding=(0, 2))
        for name, value in _fields(store, artifact):
            fields.add_row(name, Text(value))
        parents, children = store.parents(artifact.id), store.children(artifact.id)
        ratings = store.ratings(artifact.id)
    console.print(fields)
    console.print(_edges("parents", parents))
    console.print(_edges("children", children))
    console.print(f"ratings ({len(ratings)})")
    for r in ratings:
        line = f"  {r.score:g} by {r.by}, {r.created:%Y-%m-%d %H:%M}"
        console.print(Text(f"{line}: {r.note}" if r.note else line))


@app.command()
def verify(as_json: JsonOpt = False) -> None:
    """Hash every stored file against its id; report missing files, orphans and temp files.

    Exits with 1 when anything is wrong, so scripts can check the store.
    """
    with Store(create=False) as store:
        report = store_check.verify(store)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        console.print(
            f"checked {report.checked} artifacts: {len(report.corrupt)} corrupt, "
            f"{len(report.missing)} missing, {len(report.orphans)} orphan files, "
            f"{len(report.temp_files)} temporary files"
        )
        for title, items in (
            ("corrupt (bytes do not match the id)", report.corrupt),
            ("missing (the row's file is gone)", report.missing),
            ("orphans (no row refers to them; store gc removes them)", report.orphans),
            ("temporary files (store gc removes them)", report.temp_files),
        ):
            if items:
                console.print(Text("\n".join([title] + [f"  {item}" for item in items])))
    if not report.clean:
        raise typer.Exit(1)


@app.command()
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
    min_age: Annotated[
        float,
        typer.Option(min=0, help="Spare unreferenced files younger than this many minutes."),
    ] = store_check.GC_MIN_AGE_S / 60,
    as_json: JsonOpt = False,
) -> None:
    """Remove files no artifact refers to and stale temporary files; never a referenced file."""
    with Store(create=False) as store:
        report = store_check.collect_garbage(store, min_age_s=min_age * 60, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{verb} {len(report.orphans)} orphan files and {len(report.temp_files)} temporary "
        f"files ({report.bytes_freed:,} bytes); kept {report.too_young} younger than "
        f"{min_age:g} min"
    )


@app.command()
def lineage(
    artifact_id: IdArg,
    depth: Annotated[int, typer.Option(min=1, help="Show at most this many generations.")] = 12,
) -> None:
    """Show the artifact's ancestors as a tree: parents below their child."""
    with _existing_store(artifact_id) as store:
        root = store.lineage_tree(artifact_id)
    console.print(_tree(root, depth))


@app.command()
def export(
    artifact_id: IdArg,
    out_dir: Annotated[Path, typer.Argument(help="Folder to write to; created if missing.")],
) -> None:
    """Copy the artifact and all its ancestors into a folder, with provenance.json."""
    with _existing_store(artifact_id) as store:
        out = store.export(artifact_id, out_dir)
    console.print(Text(f"wrote {out} (files and provenance.json)"))


@app.command()
def rate(
    artifact_id: IdArg,
    score: Annotated[float, typer.Argument(help="Your score, e.g. 1 to 5.")],
    note: Annotated[str | None, typer.Option(help="Why, in a few words.")] = None,
) -> None:
    """Rate an artifact; ratings travel with it into exports."""
    with Store() as store:
        rating = store.rate(artifact_id, score, note=note)
    console.print(f"rated {rating.artifact_id[:12]}: {rating.score:g}")


@app.command()
def add(
    file: Annotated[Path, typer.Argument(help="The file to keep in the store.")],
    kind: Annotated[str, typer.Option(help="What it is: melody, image, story, model, ...")],
    parent: Annotated[
        list[str] | None,
        typer.Option(help="An artifact this one was made from; repeat for several."),
    ] = None,
    relation: Annotated[
        list[str] | None,
        typer.Option(
            help="How it was made from each --parent, in the same order (default: input)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="The seed that made it, if any.")] = None,
    project: Annotated[str | None, typer.Option(help="Project to file it under.")] = None,
    note: Annotated[str | None, typer.Option(help="A note to keep with it.")] = None,
) -> None:
    """Add a file you made elsewhere, with what it was made from."""
    parents = parent or []
    relations = relation or ["input"] * len(parents)
    if len(relations) != len(parents):
        raise typer.BadParameter(
            f"give one --relation per --parent ({len(parents)}), or none", param_hint="--relation"
        )
    with Store() as store:
        artifact = store.add_file(
            file,
            kind=kind,
            parents=list(zip(parents, relations, strict=True)),
            seed=seed,
            project=project,
            note=note,
        )
    console.print(artifact.id)


def _existing_store(artifact_id: str) -> Store:
    """The store, opened for reading; none yet means no such artifact, said as such."""
    try:
        return Store(create=False)
    except NoStoreYet as empty:
        raise NotFoundInStore(f"no artifact {artifact_id}: {empty}") from None


def _fields(store: Store, a: Artifact) -> list[tuple[str, str]]:
    return [
        ("id", a.id),
        ("kind", a.kind),
        ("media type", a.media_type),
        ("file", str(store.path_of(a))),
        ("size", f"{a.size:,} bytes"),
        ("seed", "" if a.seed is None else str(a.seed)),
        ("model", a.model_id or ""),
        ("project", store.project_name(a) or ""),
        ("created", a.created.isoformat(timespec="seconds")),
        ("note", a.note or ""),
        ("params", json.dumps(a.params, sort_keys=True)),
    ]


def _edges(title: str, edges: list[Edge]) -> Text:
    lines = [f"{title} ({len(edges)})"]
    lines += [f"  {e.artifact.id[:12]}  {e.artifact.kind}  {e.relation}" for e in edges]
    return Text("\n".join(lines))


def _label(node: LineageNode) -> Text:
    a = node.artifact
    label = f"{a.id[:12]}  {a.kind}  {a.media_type}"
    if node.relation:
        label = f"{node.relation}: {label}"
    if node.repeated:
        label += "  (shown above)"
    return Text(label)


def _tree(root: LineageNode, depth: int) -> Tree:
    tree = Tree(_label(root))
    stack = [(tree, root, 0)]  # by hand, not recursion: lineages can be very deep
    while stack:
        branch, node, level = stack.pop()
        if level == depth and node.parents:
            branch.add("... (more generations: raise --depth)")
            continue
        for parent in node.parents:
            stack.append((branch.add(_label(parent)), parent, level + 1))
    return tree


def _moment(value: str, option: str, *, end_of_day: bool) -> datetime:
    """An ISO date or date and time, read as UTC unless it names its zone; with
    ``end_of_day`` a date alone means the end of that day, so ``--until`` includes it."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(
            f"{option} {value!r} is not a date or time: use e.g. 2026-03-01 or 2026-03-01T14:30"
        ) from None
    if end_of_day and len(value.strip()) == 10:  # YYYY-MM-DD
        moment += timedelta(days=1)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
