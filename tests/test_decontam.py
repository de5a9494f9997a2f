"""Decontamination (filters/decontam.py): planted evaluation passages are found (verbatim and lightly edited, whole
and embedded in longer text, and a passage copied from a long item into a short answer), independent text on the
same topic is not flagged, and the decision is the same from a Match and from the filter step's columns, down to
`assay decontaminate` with its options. The measurement on public data is benchmarks/decontam.py (RESULTS.md).
"""
from __future__ import annotations

import json
import pickle
import random
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from filters.base import apply_steps
from filters.decontam import DecontamConfig, Decontaminator, EvalIndex, measure
from filters.dedupe.normalize import words as nwords

# Hand-written pairs: (topic, an evaluation-style passage, an independently written passage on the same topic).
PAIRS = [
    ("photosynthesis",
     "Photosynthesis is the process in which green plants, algae and some bacteria capture energy from sunlight and "
     "store it in sugar. Inside the chloroplasts, chlorophyll absorbs mostly red and blue light. The light-dependent "
     "reactions split water molecules, release oxygen as a by-product and produce ATP and NADPH, which the Calvin "
     "cycle then uses to fix carbon dioxide from the air into glucose.",
     "Plants make their own food. A leaf takes in carbon dioxide through tiny pores called stomata, while the roots "
     "pull water up from the soil. Chlorophyll, the pigment that makes leaves look green, traps the energy of light, "
     "and the plant uses that energy to build glucose from carbon dioxide and water. Oxygen leaves the leaf as waste, "
     "which is lucky for every animal that breathes it."),
    ("water cycle",
     "The water cycle describes how water moves continuously between the oceans, the atmosphere and the land. Heat "
     "from the sun causes evaporation from seas and lakes, and plants add moisture through transpiration. As the "
     "water vapour rises it cools and condenses into clouds. Precipitation returns the water to the surface as rain "
     "or snow, where it collects in rivers, soaks into groundwater or flows back to the ocean.",
     "Think of a puddle on a hot afternoon: by evening it has vanished into the air. That vapour drifts upward, meets "
     "colder air and turns into the tiny droplets we see as clouds. When the droplets grow heavy they fall as rain, "
     "which fills streams, seeps into the ground and eventually reaches the sea, ready to evaporate again. Snow on "
     "mountains stores water for months before it melts."),
    ("french revolution",
     "The French Revolution began in 1789, when financial crisis and food shortages pushed King Louis XVI to summon "
     "the Estates-General. The Third Estate declared itself the National Assembly, and on 14 July crowds in Paris "
     "stormed the Bastille. The Assembly abolished feudal privileges and adopted the Declaration of the Rights of "
     "Man and of the Citizen, but the monarchy fell in 1792 and the king was executed the following year.",
     "By the late 1780s France was nearly bankrupt after costly wars, and bread prices had doubled. Ordinary people "
     "resented a system in which nobles and clergy paid little tax. When representatives met at Versailles, the "
     "commoners broke away and swore not to separate until France had a constitution. Within a few years the "
     "country became a republic, and Louis XVI died on the guillotine in January 1793."),
    ("plate tectonics",
     "According to the theory of plate tectonics, the outer shell of the Earth, the lithosphere, is broken into large "
     "rigid plates that move slowly over the softer asthenosphere. Where plates pull apart, at mid-ocean ridges, new "
     "crust forms from rising magma. Where they collide, one plate may sink beneath another in a subduction zone, "
     "producing deep trenches, volcanoes and earthquakes. Sliding boundaries such as the San Andreas Fault also cause "
     "earthquakes.",
     "Africa and South America fit together like pieces of a jigsaw, a clue that continents drift. The ground under "
     "our feet rides on slabs of rock that creep a few centimetres a year, about as fast as fingernails grow. The "
     "Atlantic is widening along a volcanic seam in its middle, while the Pacific is ringed by volcanoes and strong "
     "earthquakes because its floor dives under neighbouring continents."),
    ("pythagorean theorem",
     "The Pythagorean theorem states that in a right triangle the square of the length of the hypotenuse equals the "
     "sum of the squares of the lengths of the other two sides, written a squared plus b squared equals c squared. "
     "For example, a triangle with legs of length 3 and 4 has a hypotenuse of length 5. The converse is also true: if "
     "the side lengths satisfy the equation, the triangle has a right angle.",
     "Builders in ancient Egypt are said to have used a rope with twelve equally spaced knots to lay out square "
     "corners, because a triangle with sides three, four and five units long always contains a right angle. The "
     "longest side, opposite that angle, is called the hypotenuse. Squaring the two shorter sides and adding them "
     "gives the square of the longest one, which lets you find any missing side."),
    ("supply and demand",
     "In a competitive market the price of a good is determined by supply and demand. The demand curve slopes "
     "downward because consumers buy more when the price falls, while the supply curve slopes upward because "
     "producers offer more when the price rises. The equilibrium price is where the two curves intersect. If the "
     "price is above equilibrium a surplus results, and if it is below equilibrium a shortage results.",
     "When a frost destroys half the orange harvest, juice becomes expensive: fewer oranges are available, but "
     "people still want their breakfast drink, so sellers can charge more. When a bumper crop arrives, growers must "
     "cut prices to sell everything before it spoils. Markets keep adjusting like this until the amount people "
     "want to buy matches the amount farmers want to sell."),
    ("vaccines",
     "Vaccines train the immune system to recognise a pathogen without causing the disease. A vaccine contains an "
     "antigen, such as a weakened or inactivated virus, a protein subunit or messenger RNA that instructs cells to "
     "make a viral protein. The body responds by producing antibodies and memory B and T cells. If the real "
     "pathogen later enters the body, the memory cells trigger a faster and stronger immune response.",
     "Edward Jenner noticed that milkmaids who had caught cowpox rarely fell ill with smallpox. In 1796 he scratched "
     "material from a cowpox sore into a boy's arm and later showed the boy resisted smallpox. Modern immunisation "
     "works on the same idea: show the body a harmless version of a germ, and its defences remember it, so a later "
     "infection is stopped before it can spread."),
    ("binary search",
     "Binary search finds the position of a target value in a sorted array. It compares the target with the middle "
     "element; if they are not equal, the half in which the target cannot lie is eliminated and the search continues "
     "on the remaining half. Because the search space is halved at each step, binary search runs in logarithmic "
     "time, making at most about log2(n) + 1 comparisons for an array of n elements.",
     "Looking up a word in a paper dictionary, you do not start at page one. You open somewhere near the middle, see "
     "whether your word comes before or after, and throw away the wrong half. Repeating this, a dictionary of a "
     "thousand pages needs only about ten openings. Computers use the same trick on sorted lists, which is why "
     "keeping data in order makes it so quick to search."),
    ("newton's laws",
     "Newton's first law states that an object remains at rest or moves in a straight line at constant speed unless "
     "acted upon by a net external force. The second law states that the net force on an object equals its mass "
     "times its acceleration, F = ma. The third law states that for every action there is an equal and opposite "
     "reaction: when one body exerts a force on a second body, the second exerts an equal force back.",
     "Push a shopping cart and let go: it keeps rolling until friction slows it. Push an empty cart and a full one "
     "equally hard, and the empty one speeds up much more, because heavier things need more force to change their "
     "motion. When you jump off a small boat, the boat slides backwards, since your legs push on it as much as it "
     "pushes on you."),
    ("dna replication",
     "DNA replication is semiconservative: each new double helix contains one original strand and one newly "
     "synthesised strand. The enzyme helicase unwinds the double helix at the replication fork, and primase lays "
     "down short RNA primers. DNA polymerase then adds nucleotides in the 5' to 3' direction, continuously on the "
     "leading strand and in Okazaki fragments on the lagging strand, which DNA ligase joins together.",
     "Before a cell divides it must copy all of its genetic material so that each daughter gets a full set. The two "
     "strands of the molecule come apart like a zipper, and each strand serves as a template: an A always pairs with "
     "a T and a C with a G. Proofreading enzymes fix most mistakes, so an error slips through only about once in a "
     "billion letters."),
    ("climate and weather",
     "Weather refers to the state of the atmosphere at a particular place and time, including temperature, "
     "humidity, precipitation, cloud cover and wind. Climate is the average pattern of weather in a region over a "
     "long period, usually thirty years or more. A single cold winter therefore says little about the climate, "
     "whereas a steady rise in average temperatures over decades indicates climate change.",
     "Whether you need an umbrella tomorrow is a question about weather; whether your town gets snow most Januaries "
     "is a question about climate. Meteorologists forecast the next few days from satellite images and radar, while "
     "climate scientists study records that stretch back over many decades, and even ice cores, to see how the "
     "typical conditions of a place shift."),
    ("compound interest",
     "Compound interest is interest calculated on the initial principal and also on the interest accumulated in "
     "previous periods. If a principal P is invested at an annual rate r compounded n times per year, the amount "
     "after t years is A = P(1 + r/n)^(nt). Because interest earns further interest, the balance grows "
     "exponentially, and more frequent compounding yields a slightly larger amount.",
     "Put 100 dollars in a savings account paying 10 percent a year and leave it alone. After one year you have 110 "
     "dollars; after the second year you earn interest on 110, not 100, so you have 121. The growth speeds up over "
     "time, which is why saving early matters: money left for forty years can grow to many times what was put in."),
]


HOST = (
    "Running a small bakery means getting up long before sunrise. The ovens need an hour to heat, the dough that "
    "rested overnight has to be shaped, and the first customers arrive at half past six wanting warm bread. Over "
    "the years the owners learned which loaves sell out and which ones end up as breadcrumbs at the end of the day. "
    "On weekends the queue reaches the corner, and the family recruits cousins to help at the counter. In winter "
    "they add soups to the menu, and in summer they sell cold lemonade made from a recipe passed down by a "
    "grandmother who ran a cafe by the harbour. The shop has survived two recessions and a flood, mostly because "
    "regular customers kept coming back, and because the owners never stopped trying new recipes on Friday "
    "evenings, when the shop is quiet and the kitchen smells of cinnamon and burnt sugar."
)


def edit(text: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    """Light edits: each word is substituted, deleted or doubled with probability `rate`."""
    out = []
    for w in text.split():
        if rng.random() < rate:
            op = rng.randrange(3)
            out += [rng.choice(vocab)] if op == 0 else [] if op == 1 else [w, w]
        else:
            out.append(w)
    return " ".join(out)


def embed(passage: str, before: str = HOST, after: str = HOST) -> str:
    return f"{before}\n\n{passage}\n\n{after}"


EVALS = {f"eval:{t}": e for t, e, _ in PAIRS}
VOCAB = sorted({w for _, e, i in PAIRS for w in (e + " " + i + " " + HOST).split()})


@pytest.fixture(scope="module")
def index() -> EvalIndex:
    return EvalIndex.build(EVALS)


@pytest.mark.parametrize("topic", [t for t, _, _ in PAIRS])
def test_verbatim_whole_and_embedded_are_flagged(index, topic):
    passage = EVALS[f"eval:{topic}"]
    for doc in (passage, embed(passage), embed(passage, HOST * 4, HOST * 4)):
        m = index.check(doc)
        assert m.contaminated and m.item_id == f"eval:{topic}" and m.score == 1.0


@pytest.mark.parametrize("topic", [t for t, _, _ in PAIRS])
def test_lightly_edited_whole_and_embedded_are_flagged(index, topic):
    rng = random.Random(topic)
    passage = EVALS[f"eval:{topic}"]
    for doc in (edit(passage, 0.1, rng, VOCAB), embed(edit(passage, 0.1, rng, VOCAB))):
        m = index.check(doc)
        assert m.contaminated and m.item_id == f"eval:{topic}", m
        assert 0.5 <= m.score < 1.0


@pytest.mark.parametrize("topic", [t for t, _, _ in PAIRS])
def test_independent_text_on_the_same_topic_is_not_flagged(index, topic):
    independent = next(i for t, _, i in PAIRS if t == topic)
    for doc in (independent, embed(independent)):
        m = index.check(doc)
        assert not m.contaminated and m.score < 0.2, m
    for n in (8, 10, 13):  # not even a candidate: no shared n-gram at all
        assert EvalIndex.build(EVALS, DecontamConfig(ngram=n)).check(independent).item_id is None


def test_a_copied_paragraph_inside_a_long_answer_is_caught(index):
    """The score is computed over the matched region: a long document does not dilute it."""
    passage = EVALS["eval:binary search"]
    long_answer = embed(passage, HOST * 10, HOST * 10)
    assert len(long_answer.split()) > 20 * len(passage.split())
    m = index.check(long_answer)
    assert m.contaminated and m.item_id == "eval:binary search"
    a, b = m.region
    assert b - a < 4 * len(nwords(passage))  # the region is local to the copy


def test_unrelated_text_and_empty_documents(index):
    assert index.check(HOST) == index.check(HOST)
    assert not index.check(HOST).contaminated and index.check(HOST).item_id is None
    assert not index.check("").contaminated


def test_short_items_long_items_and_boilerplate_grams():
    short = "Which planet is known as the red planet"        # 8 words < ngram: indexed whole
    tiny = "What is two plus two"                             # < min_item_words: skipped
    long_item = " ".join(e for _, e, _ in PAIRS)              # ~800 words: chunked
    idx = EvalIndex.build({"short": short, "tiny": tiny, "long": long_item}, DecontamConfig(max_item_words=120))
    assert idx.skipped == ["tiny"]
    assert idx.check(f"Quiz time. {short}? Mars, of course.").item_id == "short"
    # one paragraph of the long item, copied into other text, is caught through its chunk
    m = idx.check(embed(PAIRS[5][1]))
    assert m.contaminated and m.item_id == "long"
    # a sentence frame shared by many items is benchmark boilerplate, not evidence
    frame = "which of the following statements best describes the main idea of the passage below"
    items = {f"q{i}": f"{frame} {w} and {v} were discussed" for i, (w, v) in enumerate(zip(VOCAB[:60], VOCAB[60:]))}
    idx2 = EvalIndex.build(items, DecontamConfig(max_items_per_gram=50))
    assert idx2.check(f"{frame} something else entirely that nobody asked about").item_id is None


def test_decontaminator_is_a_filter_step_and_the_index_pickles(index):
    docs = [HOST, embed(EVALS["eval:vaccines"]), PAIRS[6][2]]
    step = Decontaminator(pickle.loads(pickle.dumps(index)))
    cols, reasons, _ = apply_steps(docs, [step])
    assert list(reasons) == [None, "contaminated", None]
    assert cols["decontam_item"][1] == "eval:vaccines" and cols["decontam_score"][1] == 1.0
    assert list(step.decide(cols)) == list(reasons)


def test_ten_grams_recall_edited_copies_at_least_as_well_as_thirteen():
    """A small version of the measurement in the module docstring (hand-written items, 20% of words edited)."""
    rng = random.Random(0)
    cases = {"edited": [edit(e, 0.2, rng, VOCAB) for e in EVALS.values() for _ in range(4)],
             "independent": [i for _, _, i in PAIRS]}
    got = {n: measure(EvalIndex.build(EVALS, DecontamConfig(ngram=n)), cases) for n in (10, 13)}
    assert got[10]["edited"]["flagged"] >= got[13]["edited"]["flagged"]
    assert got[10]["edited"]["flagged"] >= 0.75
    assert got[10]["independent"]["flagged"] == got[13]["independent"]["flagged"] == 0.0


def test_a_passage_of_a_long_item_copied_into_a_short_answer_is_caught():
    """The issue-18 failure: the share of a long item's words is small whatever is copied; the matched passage's
    own size (30 words) and its share of the document decide."""
    long_item = " ".join(e for _, e, _ in PAIRS)          # ~780 words
    index = EvalIndex.build({"long": long_item, **EVALS})
    words = PAIRS[7][1].split()                           # binary search, a passage of the long item
    copied = " ".join(words[:40])
    answer = f"My notes for the exam. {copied} That is all I remember about it, and the rest is on the slides."
    m = index.check(answer)
    assert m.contaminated and m.matched_words >= 30 and m.score < 0.5, m
    edited = edit(copied, 0.1, random.Random(1), VOCAB)
    assert index.check(f"My notes for the exam. {edited} That is all I remember about it.").contaminated
    # a short quotation (fewer than 30 words) in a long independent text is not contamination
    quote = " ".join(words[:12])
    long_doc = f"{PAIRS[6][2]} As the textbook puts it, {quote}, which we used. {HOST}"
    m = index.check(long_doc)
    assert m.item_id is not None and not m.contaminated and m.matched_words < 30 and m.doc_share < 0.3, m
    # ... but a short document that is mostly that quotation is (its share of the document)
    m = index.check(f"Quote of the day: {quote}.")
    assert m.contaminated and m.matched_words < 30 and m.doc_share >= 0.3, m
    # the filter step decides from its columns exactly as the Match did
    docs = [answer, long_doc, f"Quote of the day: {quote}.", HOST]
    step = Decontaminator(index)
    cols, reasons, _ = apply_steps(docs, [step])
    assert [r == "contaminated" for r in reasons] == [index.check(d).contaminated for d in docs] == [
        True, False, True, False]


def test_assay_decontaminate_options_reach_the_decision(tmp_path):
    """`assay decontaminate` (the command users run): --min-words moves the absolute size rule."""
    long_item = " ".join(e for _, e, _ in PAIRS)
    words = PAIRS[7][1].split()
    docs = [{"id": "copy40", "text": "Notes. " + " ".join(words[:40]) + " End of my notes on the subject for now."},
            {"id": "clean", "text": PAIRS[3][2]}]
    (tmp_path / "eval.jsonl").write_text(json.dumps({"id": "long", "text": long_item}) + "\n")
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    got = {}
    for min_words in (30, 60):
        out = tmp_path / f"out{min_words}"
        r = subprocess.run([sys.executable, "-m", "pipeline.cli", "decontaminate", str(tmp_path / "docs.jsonl"), "--against",
                            str(tmp_path / "eval.jsonl"), "-o", str(out), "--min-words", str(min_words),
                            "--doc-share", "0.9", "--no-progress"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        rej = pq.read_table(out / "rejects").to_pylist() if any((out / "rejects").glob("*.parquet")) else []
        got[min_words] = {x["id"]: (x["decontam_item"], x["decontam_matched"]) for x in rej}
    assert set(got[30]) == {"copy40"} and got[30]["copy40"][0] == "long" and got[30]["copy40"][1] >= 38
    assert got[60] == {}
