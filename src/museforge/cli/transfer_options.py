"""The transfer options every train command shares (``core/transfer.py`` holds the recipe)."""

from __future__ import annotations

from typing import Annotated

import typer

FreezeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--freeze",
        help="With --init: keep this part as it is (repeat for more; the error lists the "
        "model's parts).",
    ),
]
LrScaleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--lr-scale",
        help="PART=FACTOR: train a part at FACTOR times the learning rate (e.g. encoder=0.1).",
    ),
]
AdaptFromOpt = Annotated[
    str | None,
    typer.Option(
        "--adapt-from",
        help="Adapt adversarially from this source data (the data the --init model knows): "
        "a domain classifier on the features, and a gradient reversal that makes the "
        "target's features look like the source's (DANN).",
    ),
]
DOMAIN_WEIGHT = 0.1  # the domain term's weight when --adapt-from is given without one
DomainAdversarialOpt = Annotated[
    float | None,
    typer.Option(
        "--domain-adversarial",
        min=0.0,
        help=f"With --adapt-from: the weight of the domain term [default: {DOMAIN_WEIGHT}].",
    ),
]


def domain_weight(adapt_from: str | None, weight: float | None) -> float:
    """The domain term's weight; a weight without a source to adapt from is refused."""
    if weight is not None and adapt_from is None:
        raise typer.BadParameter(
            "needs --adapt-from SOURCE (the data the --init model knows)",
            param_hint="--domain-adversarial",
        )
    return DOMAIN_WEIGHT if weight is None else weight
