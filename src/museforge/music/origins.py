"""Where a tune of music21's corpus comes from, read off its file name.

The Essen collection (Schaffrath 1995) files its tunes by region: ``han*`` are Chinese (Han)
songs; ``altdeu``, ``ballad``, ``boehme``, ``dva``, ``erk``, ``fink``, ``kinder`` and
``zuccal`` German sets; ``lux`` Luxembourg; ``lot`` Lorraine; ``irl`` Irish. O'Neill's,
Ryan's and Aird's books are Irish and Scottish fiddle tunes, the Nottingham tunes English,
the chorales Bach's. Anything else (a person's own folder) has no origin ("").
"""

from __future__ import annotations

ESSEN_PREFIXES = {
    "han": "China",
    "altdeu": "Germany",
    "ballad": "Germany",
    "boehme": "Germany",
    "dva": "Germany",
    "erk": "Germany",
    "fink": "Germany",
    "kinder": "Germany",
    "zuccal": "Germany",
    "lux": "Luxembourg",
    "lot": "Lorraine",
    "irl": "Ireland",
}
COLLECTIONS = {
    "oneills1850": "Ireland",
    "ryansMammoth": "Ireland",
    "airdsAirs": "Scotland",
    "nottingham-dataset": "England",
    "bach": "Bach chorales",
}


def origin(source: str) -> str:
    """The region of a corpus tune from its ``source`` path, or "" when it is not known."""
    collection, _, name = source.partition("/")
    if collection == "essenFolksong":
        for prefix, region in ESSEN_PREFIXES.items():
            if name.startswith(prefix):
                return region
        return ""
    return COLLECTIONS.get(collection, "")
