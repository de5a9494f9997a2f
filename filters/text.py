"""Shared text analysis for the heuristic filters: lines, words and word statistics, computed once per text.

Over 400 lines: spaCy's English tokenizer rules (prefixes, suffixes, infixes, exceptions) as one table-driven
emulation, kept together so they can be checked against spaCy side by side.

datatrove tokenises English with spaCy's blank English tokenizer (``spacy.blank("en")``). `word_tokenize` emulates
it without spaCy: whitespace chunks, then spaCy's affix loop (prefix/suffix rules rewritten as Python regexes), its
infix rules, URL rule and its English exception table (contractions such as "don't" -> "do", "n't"; abbreviations).
Plain alphabetic chunks (most words) skip the loop. `view(text)` caches a `TextView` per distinct text, so filters
run one after the other on the same documents split and tokenise each text once.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property, lru_cache

import numpy as np

# datatrove.utils.text.PUNCTUATION: ASCII/CJK/typographic punctuation plus control characters.
PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)))
)
# datatrove.utils.text.TERMINAL_PUNCTUATION: sentence-final marks of many scripts (FineWeb's line-end test).
TERMINAL_PUNCTUATION = frozenset(
    '!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e\u0964\u0965'
    '\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803\u1809\u1944'
    '\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c'
    '\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877'
    '\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e'
    '\uff1f\uff61\U00010a56\U00010a57\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86'
    '\U00010f87\U00010f88\U00010f89\U00011047\U00011048\U000110be\U000110bf\U000110c0\U000110c1'
    '\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df\U00011238'
    '\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9'
    '\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2'
    '\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c\U0001173d'
    '\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42'
    '\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38'
    '\U00016b44\U00016e98\U0001bc9f\U0001da88'
)
# spaCy's Sentencizer.default_punct_chars (datatrove's English sentence splitter; C4 counts sentences with it).
SENTENCIZER_PUNCT = frozenset(
    '!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e'
    '\u1735\u1736\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1c3b\u1c3c'
    '\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876'
    '\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01'
    '\uff0e\uff1f\uff61\U00010a56\U00010a57\U00011047\U00011048\U000110be\U000110bf\U000110c0'
    '\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df'
    '\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3'
    '\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1'
    '\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c'
    '\U0001173d\U0001173e\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00016a6e'
    '\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f\U0001da88'
)
PUNCTUATION_SET = frozenset(PUNCTUATION) | TERMINAL_PUNCTUATION
# Line endings counted as terminal punctuation by C4's line rule.
C4_END_PUNCT = (".", "?", "!", '"', "'")

# --- a rule-based emulation of spaCy's English tokenizer (whitespace chunks -> prefixes, suffixes, infixes) ---
_QUOTES = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉⟦⟧"
_PUNCT = ",:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
_CURRENCY = "$£€¥฿₽﷼₴₠₡₢₣₤₥₦₧₨₩₪₫₭₮₯₰₱₲₳₵₶₷₸₹₺₻₼₾₿"
_PREFIX_RE = re.compile(
    r"''|``|§|%|=|—|–|\+(?![0-9])|……|…|\.\.+|US\$|C\$|A\$|["
    + re.escape(_PUNCT + _QUOTES + _CURRENCY)
    + r"]"
)
# Lower/upper-case letters: Latin-1, Latin Extended-A (approximate), Greek, Cyrillic (spaCy uses all scripts).
_AL = r"a-zß-öø-ÿα-ωа-яё"
_AU = r"A-ZÀ-ÖØ-ÞΑ-ΩА-ЯЁ"
_UNITS = "km|km²|km³|m|m²|m³|dm|dm²|dm³|cm|cm²|cm³|mm|mm²|mm³|ha|µm|nm|yd|in|ft|kg|g|mg|µg|t|lb|oz|m/s|km/h|kmh|mph|hPa|Pa|mbar|mb|MB|kb|KB|gb|GB|tb|TB|T|G|M|K|%|км|км²|км³|м|м²|м³|дм|дм²|дм³|см|см²|см³|мм|мм²|мм³|нм|кг|г|мг|м/с|км/ч|кПа|Па|мбар|Кб|КБ|кб|Мб|МБ|мб|Гб|ГБ|гб|Тб|ТБ|тб"
_SUFFIX_RE = re.compile(
    r"(?:……|…|\.\.+|'s|'S|’s|’S|—|–|''|(?<=[0-9])\+|(?<=°[FfCcKk])\.|(?<=[0-9])(?:["
    + re.escape(_CURRENCY)
    + r"]|" + _UNITS + r")|(?<=[0-9"
    + _AL
    + r"%²\-+"
    + re.escape(_PUNCT + _QUOTES)
    + r"])\.|(?<=["
    + _AU
    + r"]["
    + _AU
    + r"])\.|["
    + re.escape(_PUNCT + _QUOTES)
    + r"])$"
)
_INFIX_RE = re.compile(
    r"\.\.+|…|(?<=[0-9])[+\-*^](?=[0-9-])|(?<=["
    + _AL
    + r"'\"”“])\.(?=["
    + _AU
    + r"'\"”“])|(?<=[^\W\d_]),(?=[^\W\d_])|(?<=[^\W_])(?:---|--|——|-|–|—|~)(?=[^\W\d_])|(?<=[^\W_])[:<>=/](?=[^\W\d_])"
)
_URL_RE = re.compile(
    r"(?:(?:[\w+\-.]{2,})://)?(?:\S+(?::\S*)?@)?(?:[\w-]+\.)+[a-z]{2,63}(?::\d{2,5})?(?:[/?#]\S*)?$"
)
# spaCy 3.8's English tokenizer exceptions ("special cases"), generated from ``spacy.blank("en").tokenizer.rules``:
# tab-separated entries, each the string followed by its tokens when spaCy splits it.
_SPECIAL: dict[str, tuple[str, ...]] = {}
_KEEP_WHOLE: frozenset[str] = frozenset()


def _load_specials() -> None:
    global _KEEP_WHOLE
    whole = set()
    for entry in _SPACY_EN_EXCEPTIONS.replace("\n", "\t").split("\t"):
        if not entry:
            continue
        key, *parts = entry.split(" ")
        if parts:
            _SPECIAL[key] = tuple(parts)
        else:
            whole.add(key)
    _KEEP_WHOLE = frozenset(whole)


def _is_special(s: str) -> bool:
    return s in _SPECIAL or s in _KEEP_WHOLE


def _emit_special(s: str, out: list[str]) -> None:
    out.extend(_SPECIAL.get(s, (s,)))


def _split_chunk(chunk: str, out: list[str]) -> None:
    """spaCy's affix loop on one whitespace-free chunk: strip prefixes/suffixes, then split infixes."""
    prefixes: list[str] = []
    suffixes: list[str] = []
    s = chunk
    last = -1
    while s and len(s) != last:
        if _is_special(s):
            break
        last = len(s)
        m = _PREFIX_RE.match(s)
        pre = m.end() if m else 0
        if pre and _is_special(s[pre:]) and s[pre:]:
            prefixes.append(s[:pre])
            s = s[pre:]
            break
        m2 = _SUFFIX_RE.search(s, pre)
        suf = len(s) - m2.start() if m2 and m2.start() < len(s) else 0
        if suf and s[:-suf] and _is_special(s[:-suf]):
            suffixes.append(s[-suf:])
            s = s[:-suf]
            break
        if pre and suf and pre + suf <= len(s):
            prefixes.append(s[:pre])
            suffixes.append(s[-suf:])
            s = s[pre:-suf]
        elif pre:
            prefixes.append(s[:pre])
            s = s[pre:]
        elif suf:
            suffixes.append(s[-suf:])
            s = s[:-suf]
        if s and _is_special(s):
            break
    out.extend(prefixes)
    if s:
        if _is_special(s):
            _emit_special(s, out)
        elif "." in s and _URL_RE.match(s):
            out.append(s)
        else:
            start = 0
            for m in _INFIX_RE.finditer(s):
                if m.start() == 0 and m.end() == 0:
                    continue
                if m.start() > start:
                    out.append(s[start : m.start()])
                if m.end() > m.start():
                    out.append(m.group())
                start = m.end()
            if start < len(s):
                out.append(s[start:])
    out.extend(reversed(suffixes))


def word_tokenize(text: str) -> list[str]:
    """Split ``text`` into word and punctuation tokens, emulating spaCy's blank English tokenizer."""
    out: list[str] = []
    special = _SPECIAL
    for chunk in text.split():
        if (chunk.isalpha() or chunk.isdigit()) and chunk not in special:
            out.append(chunk)
        else:
            _split_chunk(chunk, out)
    return out


_TOKEN_INFO: dict[str, tuple[bool, bool]] = {}


def token_info(token: str) -> tuple[bool, bool]:
    """(is_symbol: every character is punctuation, has_alpha: at least one alphabetic character); memoised."""
    info = _TOKEN_INFO.get(token)
    if info is None:
        info = (all(ch in PUNCTUATION_SET for ch in token), any(ch.isalpha() for ch in token))
        if len(_TOKEN_INFO) < 1_000_000:
            _TOKEN_INFO[token] = info
    return info


class TextView:
    """Lazily computed splits of one text (lines, paragraphs, words, word statistics)."""

    __slots__ = ("text", "__dict__")

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def lines(self) -> list[str]:
        """``str.splitlines()`` (Gopher quality, C4)."""
        return self.text.splitlines()

    @cached_property
    def nonempty_lines(self) -> list[str]:
        """``text.split("\\n")`` without whitespace-only lines (FineWeb)."""
        return [s for s in self.text.split("\n") if s.strip()]

    @cached_property
    def words(self) -> list[str]:
        """Word and punctuation tokens (see `word_tokenize`)."""
        return word_tokenize(self.text)

    @cached_property
    def word_counts(self) -> Counter:
        """Occurrences of each distinct token."""
        return Counter(self.words)

    @cached_property
    def word_stats(self) -> tuple[int, int, float, int]:
        """(n_tokens, n_non_symbol_tokens, mean length of non-symbol tokens, n_tokens_with_alpha)."""
        n_words = n_alpha = word_chars = 0
        for w, k in self.word_counts.items():
            is_symbol, has_alpha = token_info(w)
            if not is_symbol:
                n_words += k
                word_chars += k * len(w)
            if has_alpha:
                n_alpha += k
        mean_len = word_chars / n_words if n_words else float("nan")
        return len(self.words), n_words, mean_len, n_alpha

    @cached_property
    def word_ids(self) -> np.ndarray:
        """Per-token integer ids (equal tokens, equal ids), int64."""
        ids = {w: i for i, w in enumerate(self.word_counts)}
        return np.fromiter(map(ids.__getitem__, self.words), dtype=np.int64, count=len(self.words))

    @cached_property
    def word_lengths(self) -> np.ndarray:
        """Per-token character lengths, int64."""
        return np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))


@lru_cache(maxsize=4096)
def view(text: str) -> TextView:
    """The cached `TextView` of ``text`` (shared by all filters)."""
    return TextView(text)


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of elements seen before, total characters of those elements), like datatrove's."""
    seen: set[str] = set()
    dup_elems = dup_chars = 0
    for el in items:
        if el in seen:
            dup_elems += 1
            dup_chars += len(el)
        else:
            seen.add(el)
    return dup_elems, dup_chars


def safe_div(a: float, b: float) -> float:
    """``a / b``, or NaN when ``b`` is 0 (datatrove raises there; such documents fail an earlier check)."""
    return a / b if b else float("nan")


_SPACY_EN_EXCEPTIONS = r"""
'	''	'Cause	'Cos	'Coz	'Cuz	'S	'bout	'cause	'cos	'coz	'cuz	'd	'em	'll	'nuff	're	's	(*_*)	(-8	(-:	(-;	(-_-)
(._.)	(:	(;	(=	(>_<)	(^_^)	(o:	(¬_¬)	(ಠ_ಠ)	(╯°□°）╯︵┻━┻	)-:	):	-_-	-__-	._.	0.0	0.o	0_0	0_o	10a.m. 10 a.m.
10am 10 am	10p.m. 10 p.m.	10pm 10 pm	11a.m. 11 a.m.	11am 11 am	11p.m. 11 p.m.	11pm 11 pm	12a.m. 12 a.m.
12am 12 am	12p.m. 12 p.m.	12pm 12 pm	1a.m. 1 a.m.	1am 1 am	1p.m. 1 p.m.	1pm 1 pm	2a.m. 2 a.m.	2am 2 am
2p.m. 2 p.m.	2pm 2 pm	3a.m. 3 a.m.	3am 3 am	3p.m. 3 p.m.	3pm 3 pm	4a.m. 4 a.m.	4am 4 am	4p.m. 4 p.m.
4pm 4 pm	5a.m. 5 a.m.	5am 5 am	5p.m. 5 p.m.	5pm 5 pm	6a.m. 6 a.m.	6am 6 am	6p.m. 6 p.m.	6pm 6 pm	7a.m. 7 a.m.
7am 7 am	7p.m. 7 p.m.	7pm 7 pm	8)	8-)	8-D	8D	8a.m. 8 a.m.	8am 8 am	8p.m. 8 p.m.	8pm 8 pm	9a.m. 9 a.m.
9am 9 am	9p.m. 9 p.m.	9pm 9 pm	:'(	:')	:'-(	:'-)	:(	:((	:(((	:()	:)	:))	:)))	:*	:-(	:-((	:-(((	:-)	:-))
:-)))	:-*	:-/	:-0	:-3	:->	:-D	:-O	:-P	:-X	:-]	:-o	:-p	:-x	:-|	:-}	:/	:0	:1	:3	:>	:D	:O	:P	:X	:]	:o	:o)
:p	:x	:|	:}	:’(	:’)	:’-(	:’-)	;)	;-)	;-D	;D	;_;	<.<	</3	<3	<33	<333	<space>	=(	=)	=/	=3	=D	=[	=]	=|	>.<
>.>	>:(	>:o	><(((*>	@_@	Adm.	Ain't Ai n't	Aint Ai nt	Ain’t Ai n’t	Ak.	Ala.	Apr.	Aren't Are n't	Arent Are nt
Aren’t Are n’t	Ariz.	Ark.	Aug.	Bros.	C'mon C'm on	C++	Calif.	Can't Ca n't	Can't've Ca n't 've	Cannot Can not
Cant Ca nt	Cantve Ca nt ve	Can’t Ca n’t	Can’t’ve Ca n’t ’ve	Co.	Colo.	Conn.	Corp.	Could've Could 've
Couldn't Could n't	Couldn't've Could n't 've	Couldnt Could nt	Couldntve Could nt ve	Couldn’t Could n’t
Couldn’t’ve Could n’t ’ve	Couldve Could ve	Could’ve Could ’ve	C’mon C’m on	D.C.	Daren't Dare n't	Darent Dare nt
Daren’t Dare n’t	Dec.	Del.	Didn't Did n't	Didn't've Did n't 've	Didnt Did nt	Didntve Did nt ve	Didn’t Did n’t
Didn’t’ve Did n’t ’ve	Doesn't Does n't	Doesn't've Does n't 've	Doesnt Does nt	Doesntve Does nt ve	Doesn’t Does n’t
Doesn’t’ve Does n’t ’ve	Doin	Doin'	Doin’	Don't Do n't	Don't've Do n't 've	Dont Do nt	Dontve Do nt ve
Don’t Do n’t	Don’t’ve Do n’t ’ve	Dr.	E.G.	E.g.	Feb.	Fla.	Ga.	Gen.	Goin	Goin'	Goin’	Gonna Gon na	Gotta Got ta
Gov.	Hadn't Had n't	Hadn't've Had n't 've	Hadnt Had nt	Hadntve Had nt ve	Hadn’t Had n’t	Hadn’t’ve Had n’t ’ve
Hasn't Has n't	Hasnt Has nt	Hasn’t Has n’t	Haven't Have n't	Havent Have nt	Haven’t Have n’t	Havin	Havin'
Havin’	He'd He 'd	He'd've He 'd 've	He'll He 'll	He'll've He 'll 've	He's He 's	Hed He d	Hedve He d ve
Hellve He ll ve	Hes He s	He’d He ’d	He’d’ve He ’d ’ve	He’ll He ’ll	He’ll’ve He ’ll ’ve	He’s He ’s	How'd How 'd
How'd've How 'd 've	How'd'y How 'd 'y	How'll How 'll	How'll've How 'll 've	How're How 're	How's How 's
How've How 've	Howd How d	Howdve How d ve	Howll How ll	Howllve How ll ve	Howre How re	Hows How s	Howve How ve
How’d How ’d	How’d’ve How ’d ’ve	How’d’y How ’d ’y	How’ll How ’ll	How’ll’ve How ’ll ’ve	How’re How ’re
How’s How ’s	How’ve How ’ve	I'd I 'd	I'd've I 'd 've	I'll I 'll	I'll've I 'll 've	I'm I 'm	I'ma I 'm a
I've I 've	I.E.	I.e.	Ia.	Id I d	Id.	Idve I d ve	Ill.	Illve I ll ve	Im I m	Ima I m a	Inc.	Ind.	Isn't Is n't
Isnt Is nt	Isn’t Is n’t	It'd It 'd	It'd've It 'd 've	It'll It 'll	It'll've It 'll 've	It's It 's	Itd It d
Itdve It d ve	Itll It ll	Itllve It ll ve	It’d It ’d	It’d’ve It ’d ’ve	It’ll It ’ll	It’ll’ve It ’ll ’ve
It’s It ’s	Ive I ve	I’d I ’d	I’d’ve I ’d ’ve	I’ll I ’ll	I’ll’ve I ’ll ’ve	I’m I ’m	I’ma I ’m a	I’ve I ’ve
Jan.	Jr.	Jul.	Jun.	Kan.	Kans.	Ky.	La.	Let's Let 's	Let’s Let ’s	Lovin	Lovin'	Lovin’	Ltd.	Ma'am	Mar.	Mass.
Mayn't May n't	Mayn't've May n't 've	Maynt May nt	Mayntve May nt ve	Mayn’t May n’t	Mayn’t’ve May n’t ’ve
Ma’am	Md.	Messrs.	Mich.	Might've Might 've	Mightn't Might n't	Mightn't've Might n't 've	Mightnt Might nt
Mightntve Might nt ve	Mightn’t Might n’t	Mightn’t’ve Might n’t ’ve	Mightve Might ve	Might’ve Might ’ve
Minn.	Miss.	Mo.	Mont.	Mr.	Mrs.	Ms.	Mt.	Must've Must 've	Mustn't Must n't	Mustn't've Must n't 've	Mustnt Must nt
Mustntve Must nt ve	Mustn’t Must n’t	Mustn’t’ve Must n’t ’ve	Mustve Must ve	Must’ve Must ’ve	N.C.	N.D.
N.H.	N.J.	N.M.	N.Y.	Neb.	Nebr.	Needn't Need n't	Needn't've Need n't 've	Neednt Need nt	Needntve Need nt ve
Needn’t Need n’t	Needn’t’ve Need n’t ’ve	Nev.	Not've Not 've	Nothin	Nothin'	Nothin’	Notve Not ve	Not’ve Not ’ve
Nov.	Nuthin	Nuthin'	Nuthin’	O'clock	O.O	O.o	O_O	O_o	Oct.	Okla.	Ol	Ol'	Ol’	Ore.	Oughtn't Ought n't	Oughtn't've Ought n't 've
Oughtnt Ought nt	Oughtntve Ought nt ve	Oughtn’t Ought n’t	Oughtn’t’ve Ought n’t ’ve	O’clock	Pa.	Ph.D.
Prof.	Rep.	Rev.	S.C.	Sen.	Sep.	Sept.	Shan't Sha n't	Shan't've Sha n't 've	Shant Sha nt	Shantve Sha nt ve
Shan’t Sha n’t	Shan’t’ve Sha n’t ’ve	She'd She 'd	She'd've She 'd 've	She'll She 'll	She'll've She 'll 've
She's She 's	Shedve She d ve	Shellve She ll ve	Shes She s	She’d She ’d	She’d’ve She ’d ’ve	She’ll She ’ll
She’ll’ve She ’ll ’ve	She’s She ’s	Should've Should 've	Shouldn't Should n't	Shouldn't've Should n't 've
Shouldnt Should nt	Shouldntve Should nt ve	Shouldn’t Should n’t	Shouldn’t’ve Should n’t ’ve	Shouldve Should ve
Should’ve Should ’ve	Somethin	Somethin'	Somethin’	St.	Tenn.	That'd That 'd	That'd've That 'd 've	That'll That 'll
That'll've That 'll 've	That's That 's	Thatd That d	Thatdve That d ve	Thatll That ll	Thatllve That ll ve
Thats That s	That’d That ’d	That’d’ve That ’d ’ve	That’ll That ’ll	That’ll’ve That ’ll ’ve	That’s That ’s
There'd There 'd	There'd've There 'd 've	There'll There 'll	There'll've There 'll 've	There're There 're
There's There 's	There've There 've	Thered There d	Theredve There d ve	Therell There ll	Therellve There ll ve
Therere There re	Theres There s	Thereve There ve	There’d There ’d	There’d’ve There ’d ’ve	There’ll There ’ll
There’ll’ve There ’ll ’ve	There’re There ’re	There’s There ’s	There’ve There ’ve	These'd These 'd	These'd've These 'd 've
These'll These 'll	These'll've These 'll 've	These're These 're	These've These 've	Thesed These d	Thesedve These d ve
Thesell These ll	Thesellve These ll ve	Thesere These re	Theseve These ve	These’d These ’d	These’d’ve These ’d ’ve
These’ll These ’ll	These’ll’ve These ’ll ’ve	These’re These ’re	These’ve These ’ve	They'd They 'd	They'd've They 'd 've
They'll They 'll	They'll've They 'll 've	They're They 're	They've They 've	Theyd They d	Theydve They d ve
Theyll They ll	Theyllve They ll ve	Theyre They re	Theyve They ve	They’d They ’d	They’d’ve They ’d ’ve
They’ll They ’ll	They’ll’ve They ’ll ’ve	They’re They ’re	They’ve They ’ve	This'd This 'd	This'd've This 'd 've
This'll This 'll	This'll've This 'll 've	This's This 's	Thisd This d	Thisdve This d ve	Thisll This ll
Thisllve This ll ve	Thiss This s	This’d This ’d	This’d’ve This ’d ’ve	This’ll This ’ll	This’ll’ve This ’ll ’ve
This’s This ’s	Those'd Those 'd	Those'd've Those 'd 've	Those'll Those 'll	Those'll've Those 'll 've
Those're Those 're	Those've Those 've	Thosed Those d	Thosedve Those d ve	Thosell Those ll	Thosellve Those ll ve
Thosere Those re	Thoseve Those ve	Those’d Those ’d	Those’d’ve Those ’d ’ve	Those’ll Those ’ll	Those’ll’ve Those ’ll ’ve
Those’re Those ’re	Those’ve Those ’ve	V.V	V_V	Va.	Wash.	Wasn't Was n't	Wasnt Was nt	Wasn’t Was n’t	We'd We 'd
We'd've We 'd 've	We'll We 'll	We'll've We 'll 've	We're We 're	We've We 've	Wed We d	Wedve We d ve	Wellve We ll ve
Weren't Were n't	Werent Were nt	Weren’t Were n’t	Weve We ve	We’d We ’d	We’d’ve We ’d ’ve	We’ll We ’ll
We’ll’ve We ’ll ’ve	We’re We ’re	We’ve We ’ve	What'd What 'd	What'd've What 'd 've	What'll What 'll	What'll've What 'll 've
What're What 're	What's What 's	What've What 've	Whatd What d	Whatdve What d ve	Whatll What ll	Whatllve What ll ve
Whatre What re	Whats What s	Whatve What ve	What’d What ’d	What’d’ve What ’d ’ve	What’ll What ’ll	What’ll’ve What ’ll ’ve
What’re What ’re	What’s What ’s	What’ve What ’ve	When'd When 'd	When'd've When 'd 've	When'll When 'll
When'll've When 'll 've	When're When 're	When's When 's	When've When 've	Whend When d	Whendve When d ve
Whenll When ll	Whenllve When ll ve	Whenre When re	Whens When s	Whenve When ve	When’d When ’d	When’d’ve When ’d ’ve
When’ll When ’ll	When’ll’ve When ’ll ’ve	When’re When ’re	When’s When ’s	When’ve When ’ve	Where'd Where 'd
Where'd've Where 'd 've	Where'll Where 'll	Where'll've Where 'll 've	Where're Where 're	Where's Where 's
Where've Where 've	Whered Where d	Wheredve Where d ve	Wherell Where ll	Wherellve Where ll ve	Wherere Where re
Wheres Where s	Whereve Where ve	Where’d Where ’d	Where’d’ve Where ’d ’ve	Where’ll Where ’ll	Where’ll’ve Where ’ll ’ve
Where’re Where ’re	Where’s Where ’s	Where’ve Where ’ve	Who'd Who 'd	Who'd've Who 'd 've	Who'll Who 'll
Who'll've Who 'll 've	Who're Who 're	Who's Who 's	Who've Who 've	Whod Who d	Whodve Who d ve	Wholl Who ll
Whollve Who ll ve	Whos Who s	Whove Who ve	Who’d Who ’d	Who’d’ve Who ’d ’ve	Who’ll Who ’ll	Who’ll’ve Who ’ll ’ve
Who’re Who ’re	Who’s Who ’s	Who’ve Who ’ve	Why'd Why 'd	Why'd've Why 'd 've	Why'll Why 'll	Why'll've Why 'll 've
Why're Why 're	Why's Why 's	Why've Why 've	Whyd Why d	Whydve Why d ve	Whyll Why ll	Whyllve Why ll ve
Whyre Why re	Whys Why s	Whyve Why ve	Why’d Why ’d	Why’d’ve Why ’d ’ve	Why’ll Why ’ll	Why’ll’ve Why ’ll ’ve
Why’re Why ’re	Why’s Why ’s	Why’ve Why ’ve	Wis.	Won't Wo n't	Won't've Wo n't 've	Wont Wo nt	Wontve Wo nt ve
Won’t Wo n’t	Won’t’ve Wo n’t ’ve	Would've Would 've	Wouldn't Would n't	Wouldn't've Would n't 've	Wouldnt Would nt
Wouldntve Would nt ve	Wouldn’t Would n’t	Wouldn’t’ve Would n’t ’ve	Wouldve Would ve	Would’ve Would ’ve
XD	XDD	You'd You 'd	You'd've You 'd 've	You'll You 'll	You'll've You 'll 've	You're You 're	You've You 've
Youd You d	Youdve You d ve	Youll You ll	Youllve You ll ve	Youre You re	Youve You ve	You’d You ’d	You’d’ve You ’d ’ve
You’ll You ’ll	You’ll’ve You ’ll ’ve	You’re You ’re	You’ve You ’ve	[-:	[:	[=	\")	\n	\t	]=	^_^	^__^	^___^
a.	a.m.	ain't ai n't	aint ai nt	ain’t ai n’t	and/or	aren't are n't	arent are nt	aren’t are n’t	b.	c'mon c'm on
c.	can't ca n't	can't've ca n't 've	cannot can not	cant ca nt	cantve ca nt ve	can’t ca n’t	can’t’ve ca n’t ’ve
co.	could've could 've	couldn't could n't	couldn't've could n't 've	couldnt could nt	couldntve could nt ve
couldn’t could n’t	couldn’t’ve could n’t ’ve	couldve could ve	could’ve could ’ve	c’mon c’m on	d.	daren't dare n't
darent dare nt	daren’t dare n’t	didn't did n't	didn't've did n't 've	didnt did nt	didntve did nt ve	didn’t did n’t
didn’t’ve did n’t ’ve	doesn't does n't	doesn't've does n't 've	doesnt does nt	doesntve does nt ve	doesn’t does n’t
doesn’t’ve does n’t ’ve	doin	doin'	doin’	don't do n't	don't've do n't 've	dont do nt	dontve do nt ve
don’t do n’t	don’t’ve do n’t ’ve	e.	e.g.	em	f.	g.	goin	goin'	goin’	gonna gon na	gotta got ta	h.	hadn't had n't
hadn't've had n't 've	hadnt had nt	hadntve had nt ve	hadn’t had n’t	hadn’t’ve had n’t ’ve	hasn't has n't
hasnt has nt	hasn’t has n’t	haven't have n't	havent have nt	haven’t have n’t	havin	havin'	havin’	he'd he 'd
he'd've he 'd 've	he'll he 'll	he'll've he 'll 've	he's he 's	hed he d	hedve he d ve	hellve he ll ve
hes he s	he’d he ’d	he’d’ve he ’d ’ve	he’ll he ’ll	he’ll’ve he ’ll ’ve	he’s he ’s	how'd how 'd	how'd've how 'd 've
how'd'y how 'd 'y	how'll how 'll	how'll've how 'll 've	how're how 're	how's how 's	how've how 've	howd how d
howdve how d ve	howll how ll	howllve how ll ve	howre how re	hows how s	howve how ve	how’d how ’d	how’d’ve how ’d ’ve
how’d’y how ’d ’y	how’ll how ’ll	how’ll’ve how ’ll ’ve	how’re how ’re	how’s how ’s	how’ve how ’ve	i'd i 'd
i'd've i 'd 've	i'll i 'll	i'll've i 'll 've	i'm i 'm	i'ma i 'm a	i've i 've	i.	i.e.	id i d	idve i d ve
illve i ll ve	im i m	ima i m a	isn't is n't	isnt is nt	isn’t is n’t	it'd it 'd	it'd've it 'd 've	it'll it 'll
it'll've it 'll 've	it's it 's	itd it d	itdve it d ve	itll it ll	itllve it ll ve	it’d it ’d	it’d’ve it ’d ’ve
it’ll it ’ll	it’ll’ve it ’ll ’ve	it’s it ’s	ive i ve	i’d i ’d	i’d’ve i ’d ’ve	i’ll i ’ll	i’ll’ve i ’ll ’ve
i’m i ’m	i’ma i ’m a	i’ve i ’ve	j.	k.	l.	let's let 's	let’s let ’s	ll	lovin	lovin'	lovin’	m.	ma'am	mayn't may n't
mayn't've may n't 've	maynt may nt	mayntve may nt ve	mayn’t may n’t	mayn’t’ve may n’t ’ve	ma’am	might've might 've
mightn't might n't	mightn't've might n't 've	mightnt might nt	mightntve might nt ve	mightn’t might n’t
mightn’t’ve might n’t ’ve	mightve might ve	might’ve might ’ve	must've must 've	mustn't must n't	mustn't've must n't 've
mustnt must nt	mustntve must nt ve	mustn’t must n’t	mustn’t’ve must n’t ’ve	mustve must ve	must’ve must ’ve
n.	needn't need n't	needn't've need n't 've	neednt need nt	needntve need nt ve	needn’t need n’t	needn’t’ve need n’t ’ve
not've not 've	nothin	nothin'	nothin’	notve not ve	not’ve not ’ve	nuff	nuthin	nuthin'	nuthin’	o'clock
o.	o.0	o.O	o.o	o_0	o_O	o_o	ol	ol'	ol’	oughtn't ought n't	oughtn't've ought n't 've	oughtnt ought nt	oughtntve ought nt ve
oughtn’t ought n’t	oughtn’t’ve ought n’t ’ve	o’clock	p.	p.m.	q.	r.	s.	shan't sha n't	shan't've sha n't 've
shant sha nt	shantve sha nt ve	shan’t sha n’t	shan’t’ve sha n’t ’ve	she'd she 'd	she'd've she 'd 've
she'll she 'll	she'll've she 'll 've	she's she 's	shedve she d ve	shellve she ll ve	shes she s	she’d she ’d
she’d’ve she ’d ’ve	she’ll she ’ll	she’ll’ve she ’ll ’ve	she’s she ’s	should've should 've	shouldn't should n't
shouldn't've should n't 've	shouldnt should nt	shouldntve should nt ve	shouldn’t should n’t	shouldn’t’ve should n’t ’ve
shouldve should ve	should’ve should ’ve	somethin	somethin'	somethin’	t.	that'd that 'd	that'd've that 'd 've
that'll that 'll	that'll've that 'll 've	that's that 's	thatd that d	thatdve that d ve	thatll that ll
thatllve that ll ve	thats that s	that’d that ’d	that’d’ve that ’d ’ve	that’ll that ’ll	that’ll’ve that ’ll ’ve
that’s that ’s	there'd there 'd	there'd've there 'd 've	there'll there 'll	there'll've there 'll 've
there're there 're	there's there 's	there've there 've	thered there d	theredve there d ve	therell there ll
therellve there ll ve	therere there re	theres there s	thereve there ve	there’d there ’d	there’d’ve there ’d ’ve
there’ll there ’ll	there’ll’ve there ’ll ’ve	there’re there ’re	there’s there ’s	there’ve there ’ve	these'd these 'd
these'd've these 'd 've	these'll these 'll	these'll've these 'll 've	these're these 're	these've these 've
thesed these d	thesedve these d ve	thesell these ll	thesellve these ll ve	thesere these re	theseve these ve
these’d these ’d	these’d’ve these ’d ’ve	these’ll these ’ll	these’ll’ve these ’ll ’ve	these’re these ’re
these’ve these ’ve	they'd they 'd	they'd've they 'd 've	they'll they 'll	they'll've they 'll 've	they're they 're
they've they 've	theyd they d	theydve they d ve	theyll they ll	theyllve they ll ve	theyre they re	theyve they ve
they’d they ’d	they’d’ve they ’d ’ve	they’ll they ’ll	they’ll’ve they ’ll ’ve	they’re they ’re	they’ve they ’ve
this'd this 'd	this'd've this 'd 've	this'll this 'll	this'll've this 'll 've	this's this 's	thisd this d
thisdve this d ve	thisll this ll	thisllve this ll ve	thiss this s	this’d this ’d	this’d’ve this ’d ’ve
this’ll this ’ll	this’ll’ve this ’ll ’ve	this’s this ’s	those'd those 'd	those'd've those 'd 've	those'll those 'll
those'll've those 'll 've	those're those 're	those've those 've	thosed those d	thosedve those d ve	thosell those ll
thosellve those ll ve	thosere those re	thoseve those ve	those’d those ’d	those’d’ve those ’d ’ve	those’ll those ’ll
those’ll’ve those ’ll ’ve	those’re those ’re	those’ve those ’ve	u.	v.	v.s.	v.v	v_v	vs.	w.	w/o	wasn't was n't
wasnt was nt	wasn’t was n’t	we'd we 'd	we'd've we 'd 've	we'll we 'll	we'll've we 'll 've	we're we 're
we've we 've	wed we d	wedve we d ve	wellve we ll ve	weren't were n't	werent were nt	weren’t were n’t
weve we ve	we’d we ’d	we’d’ve we ’d ’ve	we’ll we ’ll	we’ll’ve we ’ll ’ve	we’re we ’re	we’ve we ’ve	what'd what 'd
what'd've what 'd 've	what'll what 'll	what'll've what 'll 've	what're what 're	what's what 's	what've what 've
whatd what d	whatdve what d ve	whatll what ll	whatllve what ll ve	whatre what re	whats what s	whatve what ve
what’d what ’d	what’d’ve what ’d ’ve	what’ll what ’ll	what’ll’ve what ’ll ’ve	what’re what ’re	what’s what ’s
what’ve what ’ve	when'd when 'd	when'd've when 'd 've	when'll when 'll	when'll've when 'll 've	when're when 're
when's when 's	when've when 've	whend when d	whendve when d ve	whenll when ll	whenllve when ll ve	whenre when re
whens when s	whenve when ve	when’d when ’d	when’d’ve when ’d ’ve	when’ll when ’ll	when’ll’ve when ’ll ’ve
when’re when ’re	when’s when ’s	when’ve when ’ve	where'd where 'd	where'd've where 'd 've	where'll where 'll
where'll've where 'll 've	where're where 're	where's where 's	where've where 've	whered where d	wheredve where d ve
wherell where ll	wherellve where ll ve	wherere where re	wheres where s	whereve where ve	where’d where ’d
where’d’ve where ’d ’ve	where’ll where ’ll	where’ll’ve where ’ll ’ve	where’re where ’re	where’s where ’s
where’ve where ’ve	who'd who 'd	who'd've who 'd 've	who'll who 'll	who'll've who 'll 've	who're who 're
who's who 's	who've who 've	whod who d	whodve who d ve	wholl who ll	whollve who ll ve	whos who s	whove who ve
who’d who ’d	who’d’ve who ’d ’ve	who’ll who ’ll	who’ll’ve who ’ll ’ve	who’re who ’re	who’s who ’s	who’ve who ’ve
why'd why 'd	why'd've why 'd 've	why'll why 'll	why'll've why 'll 've	why're why 're	why's why 's	why've why 've
whyd why d	whydve why d ve	whyll why ll	whyllve why ll ve	whyre why re	whys why s	whyve why ve	why’d why ’d
why’d’ve why ’d ’ve	why’ll why ’ll	why’ll’ve why ’ll ’ve	why’re why ’re	why’s why ’s	why’ve why ’ve	won't wo n't
won't've wo n't 've	wont wo nt	wontve wo nt ve	won’t wo n’t	won’t’ve wo n’t ’ve	would've would 've	wouldn't would n't
wouldn't've would n't 've	wouldnt would nt	wouldntve would nt ve	wouldn’t would n’t	wouldn’t’ve would n’t ’ve
wouldve would ve	would’ve would ’ve	x.	xD	xDD	y'all y' all	y.	yall y all	you'd you 'd	you'd've you 'd 've
you'll you 'll	you'll've you 'll 've	you're you 're	you've you 've	youd you d	youdve you d ve	youll you ll
youllve you ll ve	youre you re	youve you ve	you’d you ’d	you’d’ve you ’d ’ve	you’ll you ’ll	you’ll’ve you ’ll ’ve
you’re you ’re	you’ve you ’ve	y’all y’ all	z.	¯\(ツ)/¯	°C. ° C .	°F. ° F .	°K. ° K .	°c. ° c .	°f. ° f .
°k. ° k .	ä.	ö.	ü.	ಠ_ಠ	ಠ︵ಠ	—	‘S	‘s	’	’Cause	’Cos	’Coz	’Cuz	’S	’bout	’cause	’cos	’coz	’cuz	’d	’em	’ll
’nuff	’re	’s	’’
"""
_load_specials()
