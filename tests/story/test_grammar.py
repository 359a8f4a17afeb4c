"""The Tracery engine: modifiers on crafted words, memory, seeds, errors, shipped grammars."""

from __future__ import annotations

import json
import random
import string

import pytest

from museforge.errors import BadInputFile, MissingFile
from museforge.story.grammar import (
    MAX_DEPTH,
    MAX_EXPANSIONS,
    Grammar,
    GrammarError,
    article,
    capitalize,
    capitalize_all,
    first_plural,
    load_grammar,
    past,
    plural,
    shipped_grammars,
)

NAMES = ["Ada", "Bram", "Cleo", "Dov", "Esme", "Finn", "Gus", "Hana", "Ivo", "Juno"]

# --- modifiers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("cat", "cats"),
        ("box", "boxes"),
        ("city", "cities"),
        ("day", "days"),
        ("bush", "bushes"),
        ("church", "churches"),
        ("kiss", "kisses"),
        ("waltz", "waltzes"),
        ("BOX", "BOXes"),
    ],
)
def test_plural_follows_tracery_endings(word, expected):
    assert plural(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("owl", "an owl"),
        ("cat", "a cat"),
        ("elephant", "an elephant"),
        ("Owl", "an Owl"),
        ("umbrella", "an umbrella"),
        # Tracery's exception: "u?i" takes "a" (unicorn, uniform)
        ("unicorn", "a unicorn"),
        # by the first letter only, as Tracery does: no silent h, no "one" sound
        ("hour", "a hour"),
        ("one-eyed cat", "an one-eyed cat"),
    ],
)
def test_article_goes_by_first_letter_like_tracery(word, expected):
    assert article(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [("walk", "walked"), ("bake", "baked"), ("cry", "cried"), ("play", "played"), ("fix", "fixed")],
)
def test_past_tense(word, expected):
    assert past(word) == expected


def test_capitalize_changes_only_the_first_character():
    assert capitalize("hello World") == "Hello World"
    assert capitalize("") == ""


def test_capitalize_all_starts_every_word_and_keeps_apostrophes_inside():
    assert capitalize_all("the old-town clock's face") == "The Old-Town Clock's Face"
    assert capitalize_all("don't stop") == "Don't Stop"


def test_first_s_pluralises_the_first_word_only():
    assert first_plural("cat in the hat") == "cats in the hat"
    assert first_plural("box") == "boxes"


def test_modifiers_chain_left_to_right_inside_a_grammar():
    g = Grammar(
        {"origin": "#animal.a# / #animal.s.capitalize# / #animal.a.capitalizeAll#", "animal": "owl"}
    )
    assert g.expand() == "an owl / Owls / An Owl"


def test_replace_modifier_takes_two_parameters():
    g = Grammar({"origin": "#fruit.replace(a,o)#", "fruit": "banana"})
    assert g.expand() == "bonono"


# --- expansion -------------------------------------------------------------------------


def test_one_choice_grammar_expands_to_the_hand_derived_text():
    g = Grammar(
        {
            "origin": "#greeting.capitalize#, #place#!",
            "greeting": "hello",
            "place": "#adj# #noun.s# of #owner.a#",
            "adj": ["old"],
            "noun": "city",
            "owner": "emperor",
        }
    )
    assert g.expand("#origin#", seed=123) == "Hello, old cities of an emperor!"


def test_memory_keeps_one_name_across_a_story():
    g = Grammar(
        {
            "origin": "[hero:#name#]#story#",
            "story": "#hero# met #friend#. Then #hero# left.",
            "friend": ["a fox", "an owl"],
            "name": NAMES,
        }
    )
    heroes = set()
    for seed in range(30):
        text = g.expand(seed=seed)
        first = text.split(" met ")[0]
        second = text.split("Then ")[1].removesuffix(" left.")
        assert first == second, text
        heroes.add(first)
    assert len(heroes) > 3  # the name is chosen, once per story


def test_without_memory_a_symbol_is_chosen_afresh_each_time():
    g = Grammar({"origin": "#name# #name#", "name": NAMES})
    pairs = [g.expand(seed=s).split() for s in range(30)]
    assert any(a != b for a, b in pairs)


def test_push_is_expanded_once_at_push_time():
    g = Grammar({"origin": "[x:#n#]#x##x##x##x#", "n": list(string.ascii_lowercase)})
    for seed in range(10):
        text = g.expand(seed=seed)
        assert text == text[0] * 4


def test_pop_returns_to_the_previous_value_then_to_the_grammar():
    g = Grammar({"origin": "[x:A]#x#[x:B]#x#[x:POP]#x#[x:POP]#x#", "x": "base"})
    assert g.expand() == "ABAbase"


def test_pop_with_nothing_pushed_is_an_error():
    g = Grammar({"origin": "[x:POP]#x#", "x": "base"})
    with pytest.raises(GrammarError, match="nothing was pushed for it"):
        g.expand()


def test_action_before_a_symbol_lasts_for_that_tag_only():
    g = Grammar({"origin": "#[hero:Ann]story#/#hero#", "story": "#hero# sings", "hero": "nobody"})
    assert g.expand() == "Ann sings/nobody"


def test_symbol_may_pop_what_its_tag_pushed():
    g = Grammar({"origin": "#[x:A]y#/#x#", "y": "[x:POP]z", "x": "base"})
    assert g.expand() == "z/base"


def test_setter_action_runs_its_pushes_and_drops_its_text():
    g = Grammar({"origin": "[#set#]#a##b#", "set": "[a:1][b:2]dropped"})
    assert g.expand() == "12"


def test_push_of_several_values_chooses_among_them():
    g = Grammar({"origin": "[x:p,q]#x#"})
    assert {g.expand(seed=s) for s in range(30)} == {"p", "q"}


def test_backslash_makes_special_characters_plain():
    g = Grammar({"origin": r"\#no tag\# \[no action\] #a#", "a": "yes"})
    assert g.expand() == "#no tag# [no action] yes"


def test_same_seed_same_text_and_global_random_untouched():
    g = Grammar({"origin": "#l##l##l##l##l#", "l": list(string.ascii_lowercase)})
    random.seed(5)
    expected_next = random.random()
    random.seed(5)
    assert g.expand(seed=42) == g.expand(seed=42)
    assert random.random() == expected_next


def test_different_seeds_give_different_texts():
    g = Grammar({"origin": "#l##l##l##l##l#", "l": list(string.ascii_lowercase)})
    texts = [g.expand(seed=s) for s in range(20)]
    assert len(set(texts)) == 20


def test_choice_is_random_random_of_the_seed():
    options = ["a", "b", "c", "d", "e", "f", "g"]
    g = Grammar({"origin": "#x#", "x": options})
    for seed in range(10):
        assert g.expand(seed=seed) == random.Random(seed).choice(options)


def test_expand_many_fewer_is_a_prefix():
    g = Grammar({"origin": "#l##l##l#", "l": list(string.ascii_lowercase)})
    assert g.expand_many(3, seed=9) == g.expand_many(5, seed=9)[:3]
    assert g.expand_many(3, seed=9) != g.expand_many(3, seed=10)


# --- errors ----------------------------------------------------------------------------


def test_unknown_symbol_names_the_symbol_and_the_rule():
    with pytest.raises(
        GrammarError, match=r"unknown symbol 'nope' in rule 'a #nope#' of .*'origin'"
    ):
        Grammar({"origin": "a #nope#"})
    g = Grammar({"origin": "x"})
    with pytest.raises(GrammarError, match=r"unknown symbol 'nope' in rule '#nope#'"):
        g.expand("#nope#")


def test_symbol_used_after_its_pop_is_unknown_at_expansion():
    g = Grammar({"origin": "[h:A][h:POP]#h#"})
    with pytest.raises(GrammarError, match="unknown symbol 'h'"):
        g.expand()


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("#a", "'#' without its closing '#'"),
        ("[a:b", "'[' without its ']'"),
        ("a]", "']' without its '['"),
        ("##", "empty #...#"),
        ("[]", "empty [...]"),
        ("#a.shout#", "unknown modifier .shout"),
        ("#a.replace(x)#", ".replace takes 2 parameters"),
        ("#a[x:y]b#", "exactly one symbol"),
        ("[:y]", "needs a name"),
    ],
)
def test_syntax_errors_name_symbol_rule_and_problem(rule, words):
    with pytest.raises(GrammarError) as info:
        Grammar({"origin": rule, "a": "x", "b": "y"})
    message = str(info.value)
    assert words in message and "'origin'" in message and repr(rule) in message


def test_self_recursion_stops_at_the_depth_limit():
    g = Grammar({"origin": "#a#", "a": "x#a#"})
    with pytest.raises(GrammarError, match=f"deeper than {MAX_DEPTH} at 'a'"):
        g.expand()


def test_exponential_grammar_stops_at_the_expansion_budget():
    ten = "#{0}#" * 10
    g = Grammar(
        {
            "origin": ten.format("b"),
            "b": ten.format("c"),
            "c": ten.format("d"),
            "d": ten.format("e"),
            "e": ten.format("f"),
            "f": "x",
        }
    )  # 111,111 symbols in all
    with pytest.raises(GrammarError, match=f"more than {MAX_EXPANSIONS:,} symbols"):
        g.expand()


def test_output_length_is_limited():
    g = Grammar({"origin": "#b##b#", "b": "x" * 10})
    assert g.expand(max_chars=20) == "x" * 20
    with pytest.raises(GrammarError, match="grew past 15 characters"):
        g.expand(max_chars=15)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[1, 2]", "not an array"),
        ('"origin"', "not a string"),
        ("{}", "has no symbols"),
        ('{"a": 3}', "symbol 'a' must map to a string or a non-empty list of strings"),
        ('{"a": []}', "symbol 'a' must map"),
        ('{"a": ["x", 1]}', "symbol 'a' must map"),
        ('{"a": ', "not valid JSON"),
    ],
)
def test_json_that_is_not_an_object_of_rules_is_refused(text, words):
    with pytest.raises(GrammarError, match=words):
        Grammar.from_json(text, source="mine.json")


def test_grammar_file_over_one_megabyte_is_refused(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({"origin": "x" * 1_000_000}))
    with pytest.raises(BadInputFile, match="at most 1 MB"):
        Grammar.from_file(path)


def test_load_grammar_from_file_name_or_error(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"origin": "#x#", "x": "mine"}))
    assert load_grammar(path).expand() == "mine"
    assert load_grammar(str(path)).source == str(path)
    assert "origin" in load_grammar("premise").rules
    with pytest.raises(MissingFile, match="no such grammar file"):
        load_grammar(tmp_path / "absent.json")
    with pytest.raises(GrammarError, match="shipped: names, places, premise"):
        load_grammar("nosuch")
    with pytest.raises(BadInputFile, match="is a directory"):
        load_grammar(tmp_path)
    (tmp_path / "latin1.json").write_bytes('{"origin": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(BadInputFile, match="not UTF-8"):
        load_grammar(tmp_path / "latin1.json")


# --- shipped grammars ------------------------------------------------------------------


def test_shipped_grammars_expand_cleanly():
    assert shipped_grammars() == ["names", "places", "premise"]
    for name in shipped_grammars():
        g = load_grammar(name)
        texts = g.expand_many(40, seed=0)
        for text in texts:
            assert not any(mark in text for mark in "#[]\\"), text
            assert text[0].isupper(), text
        assert len(set(texts)) >= 30, name


def test_premises_are_one_sentence_each():
    for text in load_grammar("premise").expand_many(40, seed=1):
        assert text.endswith(".") and text.count(". ") == 0, text


def test_premise_hero_is_set_once_and_kept():
    g = load_grammar("premise")
    probe = "[#setHero#]#heroName#|#heroName#|#hero#|#hero#|#their#|#their#|#them#|#them#"
    names = set()
    for seed in range(20):
        parts = g.expand(probe, seed=seed).split("|")
        assert parts[0] == parts[1] and parts[2] == parts[3], parts
        assert parts[4] == parts[5] and parts[6] == parts[7], parts
        names.add(parts[0])
    assert len(names) > 5
