"""The content rules (docs/content.md) that can be counted, and how the views show them: enough
pieces per practice and level, an inclusive one in each, a follow-up on every piece for a rut,
no jargon, team actions that add no work, and the distress line after very low answers in every
rotation and every locale. No database needed."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from bot.chat import views
from bot.chat.buttons import DISTRESS_FLAG
from messages.content import (
    LEVELS,
    PIECES_MIN,
    PRACTICE_KEYS,
    AdviceLevels,
    Level,
    _Files,
    in_distress,
    load_content,
)
from messages.copy import available_locales, copy_for
from messages.model import Paragraph, Section

CONTENT = load_content("en")
SEEDS = [f"U{user}|2026-W{week:02d}" for user in range(12) for week in range(1, 53)]
ALL_ONES = dict.fromkeys(PRACTICE_KEYS, 1)

# Workplace jargon a frontline or shift worker, or anyone outside an office, may not know.
JARGON = re.compile(
    r"\b(pairing|pair programming|stand-?ups?|sprints?|retros?|retrospectives?|scrum|agile|"
    r"backlogs?|okrs?|kpis?|1:1s?|one-on-ones?|sync-?ups?|synerg\w*|leverag\w*|bandwidth|"
    r"stakeholders?|deliverables?|upskill\w*|demos?|meetups?|webinars?|deep work)\b",
    re.IGNORECASE,
)
# Urging rather than exploring, in any advice and above all for a new path.
URGING = re.compile(
    r"\b(you should|you must|have to leave|quit|resign|hand in your notice)\b", re.I
)
ELSEWHERE = re.compile(
    r"\b(outside (your|the) (company|organisation)|another (company|employer)|elsewhere|"
    r"new job)\b",
    re.IGNORECASE,
)
# A piece pointing to a learning resource says "free" where it is free.
RESOURCE = re.compile(r"\b(course|tutorial|video|podcast|article|newsletter)s?\b", re.I)


def shown_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for everything of the content a person or manager reads."""
    for practice in CONTENT.practices:
        for field in ("name", "short", "question", "low_label", "high_label"):
            yield f"{practice.key}.{field}", getattr(practice, field)
    for key, level, piece in CONTENT.pieces():
        yield f"{key}/{level}", piece.text
        if piece.after_a_week:
            yield f"{key}/{level} after a week", piece.after_a_week
    for key, actions in CONTENT.team_actions.items():
        for action in actions:
            yield f"actions/{key}", action.text


# --- the data ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", PRACTICE_KEYS)
@pytest.mark.parametrize("level", LEVELS)
def test_each_practice_and_level_has_four_pieces_and_an_inclusive_one(
    key: str, level: Level
) -> None:
    pieces = getattr(CONTENT.advice[key], level)
    assert len(pieces) >= PIECES_MIN == 4
    inclusive = [piece for piece in pieces if piece.inclusive]
    assert len(inclusive) >= 1, f"{key}/{level}: nothing anyone can do in ten minutes"
    assert len({piece.text for piece in pieces}) == len(pieces)


def test_the_inclusive_count() -> None:
    """Two inclusive pieces per practice and level, not just the one the loader insists on:
    with one, the rule that two pieces shown together include an inclusive one would pin that
    piece into every rotation. And the totals, so a change that thins them out shows."""
    counts = {
        (key, level): sum(piece.inclusive for piece in getattr(CONTENT.advice[key], level))
        for key in PRACTICE_KEYS
        for level in LEVELS
    }
    assert min(counts.values()) >= 2, {k: n for k, n in counts.items() if n < 2}
    assert sum(counts.values()) >= 35
    assert sum(1 for _ in CONTENT.pieces()) >= 65


def test_every_rut_piece_has_a_one_line_follow_up() -> None:
    for key in PRACTICE_KEYS:
        for piece in CONTENT.advice[key].rut:
            follow_up = piece.after_a_week
            assert follow_up, f"{key}/rut: {piece.text[:50]}… has no follow-up"
            assert "\n" not in follow_up and len(follow_up) <= 200
            # Shown after "After a week:", so it continues the sentence.
            assert follow_up[0].islower(), follow_up
            assert follow_up.rstrip()[-1] in ".?!", follow_up


def test_pieces_are_one_to_three_sentences() -> None:
    for key, level, piece in CONTENT.pieces():
        sentences = re.findall(r"[.?!](?:\s|$)", piece.text)
        assert 1 <= len(sentences) <= 3, f"{key}/{level}: {piece.text}"


def test_no_jargon_anywhere() -> None:
    found = [f"{where}: {m[0]!r}" for where, text in shown_texts() if (m := JARGON.search(text))]
    assert not found, "\n".join(found)


def test_advice_explores_and_never_urges_a_move() -> None:
    urging = [f"{w}: {t}" for w, t in shown_texts() if URGING.search(t)]
    assert not urging, "\n".join(urging)
    elsewhere = [w for w, t in shown_texts() if ELSEWHERE.search(t)]
    assert len(elsewhere) <= 1, f"'work somewhere else' more than once: {elsewhere}"


def test_path_advice_has_discretion_and_a_piece_for_someone_ready_to_move() -> None:
    path = [piece.text for level in LEVELS for piece in getattr(CONTENT.advice["path"], level)]
    assert sum("private" in text or "decide how much" in text for text in path) >= 2
    ready = [text for text in path if "already know you want a change" in text]
    assert len(ready) == 1 and "internal" in ready[0], "internal moves first"


def test_learning_resources_say_free_where_they_are() -> None:
    missing = [
        f"{key}/{level}: {piece.text}"
        for key, level, piece in CONTENT.pieces()
        if RESOURCE.search(piece.text) and "free" not in piece.text.lower()
    ]
    assert not missing, "\n".join(missing)


def test_pieces_of_a_practice_differ_in_more_than_wording() -> None:
    """No two pieces of one practice share a quarter of their words (the near-duplicates the
    review found shared more)."""
    stop = set(
        re.findall(
            r"\S+",
            "a an the and or of to in on for with your you it is that this what one as at by be "
            "from if can them they their how do don't its it's which who when more not so make "
            "than into about",
        )
    )

    def words(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z']+", text.lower()) if w not in stop and len(w) > 2}

    for key in PRACTICE_KEYS:
        texts = [p.text for level in LEVELS for p in getattr(CONTENT.advice[key], level)]
        for one, other in itertools.combinations(texts, 2):
            a, b = words(one), words(other)
            assert len(a & b) / len(a | b) < 0.25, f"{key}: too alike:\n{one}\n{other}"


def test_questions_mean_thriving_at_5_and_say_their_window() -> None:
    by_key = {p.key: p for p in CONTENT.practices}
    for practice in CONTENT.practices:
        question = practice.question
        assert question.endswith("?") and "lately" not in question.lower()
        assert "excite" not in question.lower()  # content without excitement is not stuck
        assert practice.low_label and practice.high_label
        assert practice.low_label != practice.high_label
    for key in ("routine", "training", "strengths"):
        assert "last two weeks" in by_key[key].question
    assert "learned something new lately" not in by_key["training"].question
    assert "clearly" not in by_key["assess"].question  # clarity about a dead end is no 5


def test_team_actions_assume_no_rituals_or_budget_and_one_is_about_workload() -> None:
    for key, actions in CONTENT.team_actions.items():
        assert 2 <= len(actions) <= 3
        assert any(a.about in ("workload", "follow-up") for a in actions), key
        for action in actions:
            assert "budget" not in action.text.lower(), action.text
    assert CONTENT.actions["routine"] == [a.text for a in CONTENT.team_actions["routine"]]


def test_the_validator_refuses_content_that_breaks_the_rules() -> None:
    piece: dict[str, Any] = {"text": "Write down one thing that went well this week and why."}
    rut = [{**piece, "after_a_week": "read it again and pick one thing to repeat."}] * 4
    good: dict[str, Any] = {"rut": rut, "middle": [piece] * 3 + [{**piece, "inclusive": True}]}
    good["thriving"] = good["middle"]
    assert AdviceLevels.model_validate({**good, "rut": [{**r, "inclusive": True} for r in rut]})
    with pytest.raises(ValidationError, match="no piece marked inclusive"):
        AdviceLevels.model_validate(good)  # the rut pieces: none inclusive
    with pytest.raises(ValidationError, match="after_a_week"):
        AdviceLevels.model_validate({**good, "rut": good["middle"]})
    with pytest.raises(ValidationError):
        AdviceLevels.model_validate({**good, "middle": good["middle"][:3]})  # three pieces
    files: dict[str, Any] = {
        "practices": [p.model_dump() for p in CONTENT.practices],
        "advice": {k: v.model_dump() for k, v in CONTENT.advice.items()},
        "actions": {k: [a.model_dump() for a in v] for k, v in CONTENT.team_actions.items()},
    }
    assert _Files.model_validate(files)
    files["actions"]["path"] = [{"text": a["text"]} for a in files["actions"]["path"]]
    with pytest.raises(ValidationError, match="workload or follow-up"):
        _Files.model_validate(files)


# --- distress ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((1, 1, 1, 1, 1), True),
        ((1, 1, 2, 2, 2), True),  # mean 1.6 exactly
        ((1, 2, 2, 2, 2), False),  # mean 1.8, one at 1
        ((1, 1, 1, 5, 5), True),  # three at 1
        ((1, 1, 2, 2, 3), False),  # mean 1.8, two at 1
        ((2, 2, 2, 2, 2), False),
        ((3, 3, 3, 3, 3), False),
    ],
)
def test_in_distress(scores: tuple[int, ...], expected: bool) -> None:
    assert in_distress(dict(zip(PRACTICE_KEYS, scores, strict=True))) is expected


def distress_paragraphs(blocks: tuple[object, ...], locale: str) -> list[str]:
    line = copy_for(locale).say("distress_line")
    return [b.text for b in blocks if isinstance(b, Paragraph) and b.text.startswith(line)]


@pytest.mark.parametrize("locale", available_locales())
def test_all_ones_show_the_distress_line_in_every_rotation_and_locale(locale: str) -> None:
    t = copy_for(locale)
    targets = views.advice_targets(ALL_ONES)
    distress = in_distress(ALL_ONES)
    support = "https://support.example.com/eap?lang=de&x=1"
    for seed in SEEDS:
        result = views.checkin_result(
            t, locale, "status", targets, seed, "2026-W48", distress=distress, support_url=support
        )
        (line,) = distress_paragraphs(result.blocks, locale)
        assert line.endswith(t.say("distress_support", url=support))
        assert result.private.endswith(f"|{DISTRESS_FLAG}")
        sent = views.advice_message(t, locale, targets, seed, distress=distress, support_url=None)
        (line,) = distress_paragraphs(sent.blocks, locale)
        assert line == t.say("distress_line")  # no link set: the line alone
    if locale != "en":
        assert t.say("distress_line") != copy_for("en").say("distress_line")


def test_the_distress_line_comes_first_and_the_tips_are_fewer_and_doable() -> None:
    t = copy_for("en")
    targets = views.advice_targets(ALL_ONES)
    result = views.checkin_result(t, "en", "status", targets, SEEDS[0], "2026-W48", distress=True)
    kinds = [type(b).__name__ for b in result.blocks]
    assert kinds[:3] == ["Paragraph", "Paragraph", "Heading"]
    inclusive = {p.text for _, _, p in CONTENT.pieces() if p.inclusive}
    for seed in SEEDS:
        for section in views.advice_sections(t, "en", targets, seed, distress=True):
            (piece,) = section.text.split("\n\n")  # one piece per practice
            assert piece.split("\n")[0] in inclusive


def test_no_distress_line_without_very_low_answers() -> None:
    t = copy_for("en")
    scores = {**ALL_ONES, "strengths": 4, "path": 4, "assess": 2}
    targets = views.advice_targets(scores)
    result = views.checkin_result(
        t, "en", "status", targets, SEEDS[0], "2026-W48", distress=in_distress(scores)
    )
    assert not distress_paragraphs(result.blocks, "en")
    assert result.private == "routine:rut;training:rut;assess:rut|2026-W48"


# --- how pieces are shown -------------------------------------------------------------------


def test_two_pieces_shown_together_always_include_an_inclusive_one() -> None:
    for key, level in itertools.product(PRACTICE_KEYS, LEVELS):
        for seed in SEEDS[:100]:
            pair = CONTENT.pick_advice(key, level, seed, count=2)
            assert len(pair) == 2 and pair[0] != pair[1]
            assert any(piece.inclusive for piece in pair), (key, level, seed)
            assert pair == CONTENT.pick_advice(key, level, seed, count=2)  # stable


def test_every_rut_piece_shows_its_follow_up_in_the_result_and_the_dm() -> None:
    t = copy_for("de")  # English advice keeps its English "After a week"
    for key in PRACTICE_KEYS:
        seen = set()
        for seed in SEEDS:
            for message in (
                views.checkin_result(t, "de", "status", [(key, "rut")], seed, "2026-W48"),
                views.advice_message(t, "de", [(key, "rut")], seed),
            ):
                (section,) = [b for b in message.blocks if isinstance(b, Section)]
                for shown in section.text.split("\n\n"):
                    text, follow_up = shown.split("\n")
                    piece = next(p for p in CONTENT.advice[key].rut if p.text == text)
                    assert follow_up == f"After a week: {piece.after_a_week}"
                    seen.add(text)
        assert seen == {p.text for p in CONTENT.advice[key].rut}, key


def test_middle_and_thriving_pieces_have_no_follow_up_line() -> None:
    t = copy_for("en")
    for section in views.advice_sections(t, "en", [("path", "middle")], SEEDS[0]):
        assert "After a week" not in section.text
    topic = views.advice_topic(t, "en", "routine", SEEDS[0])
    sections = {b.title: b.text for b in topic.blocks if isinstance(b, Section)}
    assert "\nAfter a week: " in sections[t.say("level_rut")]
    assert "After a week" not in sections[t.say("level_thriving")]


def test_the_summary_reminds_managers_not_to_guess() -> None:
    from tests.teams_messages import released_summary

    t = copy_for("de")
    message = views.summary_message(t, "de", released_summary())
    texts = [b.text for b in message.blocks if isinstance(b, Paragraph)]
    assert t.say("summary_no_guessing") in texts
    assert "wer was geantwortet hat" in t.say("summary_no_guessing")
