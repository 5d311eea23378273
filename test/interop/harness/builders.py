"""Build client collections with realistic content, fast (batched adds in one op)."""

from __future__ import annotations

from dataclasses import dataclass, field

from anki.collection import AddNoteRequest, Collection

# Deck tree: nested decks, unicode names.
DECKS = [
    "Lang::French::Verbs",
    "Lang::French::Nouns",
    "Lang::German",
    "Science::Physics::Quantum",
    "Ünïcödé 日本語::Kanji",
]

TAG_POOL = [
    "vocab",
    "日本語",
    "a::b",
    "a::b::c",
    "Ünïcode::Sub-tag",
    "emoji_🎉",
    "with.dot",
]

STOCK_NOTETYPES = ["Basic", "Basic (and reversed card)", "Cloze"]
CUSTOM_NOTETYPE = "Interop Vocab"


@dataclass
class RichCollectionInfo:
    note_count: int
    decks: list[str]
    presets: dict[str, str]  # deck name -> preset name
    reviews: int
    notetypes: list[str] = field(default_factory=list)


def _add_custom_notetype(col: Collection) -> dict:
    mm = col.models
    m = mm.new(CUSTOM_NOTETYPE)
    for name in ("Word", "Meaning", "Example"):
        mm.add_field(m, mm.new_field(name))
    t1 = mm.new_template("Recognition")
    t1["qfmt"] = "<div class=word>{{Word}}</div>"
    t1["afmt"] = "{{FrontSide}}<hr id=answer>{{Meaning}}<br><i>{{Example}}</i>"
    mm.add_template(m, t1)
    t2 = mm.new_template("Production")
    t2["qfmt"] = "{{Meaning}}"
    t2["afmt"] = "{{FrontSide}}<hr id=answer>{{Word}}"
    mm.add_template(m, t2)
    m["css"] = ".card { font-family: 'Noto Sans'; font-size: 22px; color: #123456 }\n.word { font-weight: bold }"
    mm.add(m)
    return mm.by_name(CUSTOM_NOTETYPE)


def _presets(col: Collection, deck_ids: dict[str, int]) -> dict[str, str]:
    d = col.decks
    intensive = d.add_config_returning_id("Intensive")
    conf = d.get_config(intensive)
    conf["new"]["perDay"] = 55
    conf["new"]["delays"] = [1.0, 5.0, 25.0]
    conf["new"]["initialFactor"] = 2300
    conf["rev"]["perDay"] = 444
    conf["rev"]["maxIvl"] = 3650
    conf["lapse"]["leechFails"] = 5
    conf["lapse"]["delays"] = [3.0, 15.0]
    conf["maxTaken"] = 90
    d.update_config(conf)

    gentle = d.add_config_returning_id("Gentle ✓")
    conf = d.get_config(gentle)
    conf["new"]["perDay"] = 7
    conf["rev"]["perDay"] = 70
    conf["autoplay"] = False
    d.update_config(conf)

    assignment = {
        "Lang::French::Verbs": "Intensive",
        "Lang::German": "Intensive",
        "Science::Physics::Quantum": "Gentle ✓",
    }
    ids = {"Intensive": intensive, "Gentle ✓": gentle}
    for deck_name, preset in assignment.items():
        deck = d.get(deck_ids[deck_name])
        d.set_config_id_for_deck_dict(deck, ids[preset])
    return assignment


def build_rich_collection(col: Collection, note_count: int = 1000, reviews: int = 60) -> RichCollectionInfo:
    """Notes of several notetypes in nested decks, two extra presets, reviews, tags, flags, suspensions."""
    deck_ids = {name: col.decks.id(name) for name in DECKS}
    presets = _presets(col, deck_ids)
    custom = _add_custom_notetype(col)

    models = [col.models.by_name(n) for n in STOCK_NOTETYPES] + [custom]
    deck_list = [deck_ids[n] for n in DECKS] + [1]  # also the Default deck

    requests = []
    for i in range(note_count):
        m = models[i % len(models)]
        note = col.new_note(m)
        name = m["name"]
        if name == "Cloze":
            note["Text"] = f"{{{{c1::Paris}}}} is the capital of {{{{c2::France}}}} #{i} — ça va?"
            note["Back Extra"] = "<b>géographie</b>"
        elif name == CUSTOM_NOTETYPE:
            note["Word"] = f"mot-{i}"
            note["Meaning"] = f"word {i} 単語"
            note["Example"] = f'<span style="color:red">exemple {i}</span>'
        else:
            note["Front"] = f"question {i} <i>ü</i>"
            note["Back"] = f"answer {i} ✓ &amp; 😀"
        note.tags = [TAG_POOL[i % len(TAG_POOL)], TAG_POOL[(i * 3 + 1) % len(TAG_POOL)]]
        if i % 10 == 0:
            note.tags.append(f"batch::{i // 100}")
        requests.append(AddNoteRequest(note=note, deck_id=deck_list[i % len(deck_list)]))
    col.add_notes(requests)

    # Reviews through the (v3) scheduler: several decks, all four answer buttons.
    answered = 0
    per_deck = max(1, reviews // 3)
    for deck_name in ("Lang::French::Verbs", "Lang::German", "Science::Physics::Quantum"):
        col.decks.select(deck_ids[deck_name])
        for j in range(per_deck):
            card = col.sched.getCard()
            if card is None:
                break
            card.start_timer()
            col.sched.answerCard(card, (j % 4) + 1)
            answered += 1
    col.decks.select(1)

    # Some flags and suspensions.
    cids = sorted(col.find_cards(""))
    col.set_user_flag_for_cards(3, cids[5:25])
    col.sched.suspend_cards(cids[30:40])
    col.sched.bury_cards(cids[40:45])

    return RichCollectionInfo(
        note_count=note_count,
        decks=DECKS,
        presets=presets,
        reviews=answered,
        notetypes=[m["name"] for m in models],
    )


def add_basic_notes(col: Collection, texts: list[str], deck: str = "Default", tags: list[str] | None = None) -> list[int]:
    """Add Basic notes whose Front is each text; returns the note ids."""
    did = col.decks.id(deck)
    m = col.models.by_name("Basic")
    notes = []
    for t in texts:
        n = col.new_note(m)
        n["Front"] = t
        n["Back"] = f"back of {t}"
        n.tags = list(tags or [])
        notes.append(n)
    col.add_notes([AddNoteRequest(note=n, deck_id=did) for n in notes])
    return [n.id for n in notes]


def fronts(col: Collection) -> set[str]:
    """The Front/first field of every note, for quick content checks."""
    return {col.get_note(nid).fields[0] for nid in col.find_notes("")}

