"""A fast, precise main-text extractor: ``extract_fast(html) -> str`` (registry name: "fast").

Over 400 lines: one extractor whose passes (cut, walk, score, clean) share the tree walk's state.

Measured against trafilatura (as assay configures it) and resiliparse on real pages with known text in
``benchmarks/extract.py --real``; results in ``benchmarks/RESULTS.md`` ("Extraction on real pages"). One lxml parse
and one walk over the element tree, no XPath:

1. Cut ``<script>``/``<style>``/``<svg>``/``<noscript>`` elements and comments out of the string (one regex pass; on
   real pages they are most of the bytes), parse with libxml2's HTML parser (which caps nesting at 256 levels, so hostile nesting cannot
   blow the stack or run for minutes), drop invisible elements and merge inline formatting in C.
2. Walk the tree once (``iterwalk``, iterative: no recursion) and cut the text into blocks at block-level elements
   and ``<br>``. Each block keeps its link-text share and the path of block elements above it; an element whose
   tag (nav, footer, aside, header, form, figure), class/id words ("comment", "share", "related", "sidebar",
   "author-box", ...), ARIA role or inline style marks it as boilerplate marks its subtree.
3. Choose the article's container the way readability does: every good block (long or sentence-like, few links)
   scores its container and, divided by the level, the containers above; a wrapper with a single child adds no
   level, so page-builder wrappers do not split an article. Then go up while an ancestor adds a lot of good text
   and little else (articles cut into sections by ads).
4. Inside the container, keep the maximum-sum run of blocks (Kadane) where a block is worth its non-link characters
   minus 20 (CJK characters count triple), boilerplate-marked or link-heavy blocks cost their length, and the first
   good block after the ``<h1>`` gets a bonus (the run may start there, before the container: a lead in a header
   box): this trims bylines, share bars, tag lists and teasers at the edges. A stretch of such blocks inside the run
   costs at most GAP_CAP, whatever its length, and is left out (a chart or an ad box between two parts of an
   article). Boilerplate-marked and link-heavy blocks inside the run are dropped; the rest is returned, one block a
   line.

A boilerplate-looking wrapper that holds most of the page's good text (``<form id="aspnetForm">``, a ``<div
class="content has-sidebar">``) is treated as layout, not boilerplate; a result with no prose in it is chosen again
with only the tag/role/visibility marks (class names are hints). Class tokens that name a topic (``category-news``)
or are atomic CSS (``Bgc($bg-body)``) mark nothing.
"""
from __future__ import annotations

import re

from lxml import etree

_JUNK = ("script", "style", "noscript", "svg", "template", "iframe", "object", "embed", "canvas", "button", "select",
         "textarea", "head", "math", "video", "audio", "map", "picture", "source")
_BLOCK = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "table", "tr", "td", "th",
                    "tbody", "thead", "tfoot", "blockquote", "pre", "section", "article", "main", "header", "footer",
                    "nav", "aside", "dl", "dt", "dd", "figure", "figcaption", "form", "hr", "address", "center",
                    "details", "summary", "fieldset", "legend", "caption", "body", "html", "menu", "dir", "frameset",
                    "noframes", "hgroup", "dialog", "option", "label"})
# inline formatting merged into the surrounding text before the walk (in C: fewer elements to visit)
_INLINE = ("span", "b", "i", "em", "strong", "font", "u", "small", "big", "sup", "sub", "abbr", "acronym", "time",
           "mark", "q", "s", "strike", "del", "ins", "tt", "kbd", "var", "bdi", "bdo", "wbr", "nobr", "cite", "dfn",
           "data")
_NEG_TAGS = frozenset({"nav", "footer", "aside", "figure", "figcaption", "menu", "dialog", "label", "form", "fieldset",
                       "header"})
# class/id vocabulary: a part (class and id split on - _ and space) that marks boilerplate anywhere in a name
_NEG_ANY = frozenset("""comment comments commentlist disqus cookie cookies consent gdpr share sharing shares sharebar
social sociable socials related newsletter subscribe subscription signup ad advert advertisement advertising ads adsense
adslot dfp outbrain taboola criteo sponsor sponsored promo promotion promoted-content popup modal overlay breadcrumb
breadcrumbs sidebar footer navbar navigation menu menubar pagination pager paging slideshow gallery carousel slider
lightbox newsfeed ticker trending popular mostread most-read recommended recommendations widget-area banner
masthead toolbar skiplink reply respond
akismet infobox navbox catlinks mw-editsection references reflist""".split())
# parts that mark boilerplate when they are the whole name or its head (last part): "author" in "author-box",
# but not in "author-jane" (Drupal puts that on the article node)
_NEG_HEAD = frozenset("""author authors byline bio about meta metadata tags tag taglist header nav widget widgets
caption credit credits date time timestamp outline rating ratings share links actions tools buttons
btn icons icon label labels badge related dropdown search login register cart aside rail""".split())
# whole class names of invisible or print-only elements
_NEG_TOKEN = frozenset("""hidden hide d-none is-hidden element-hidden visually-hidden sr-only screen-reader-text
invisible noprint print-only skip-link toc table-of-contents tableofcontents""".split())
_POS_PARTS = frozenset("""article articles content contents entry post story body text main document blog
articlebody post-body description""".split())
_SPLIT = re.compile(r"[\s_\-:./]+")
# class tokens that label what an element is about, not what it is (WordPress' post_class: "category-social-media",
# "tag-comments", "s-category-news"): skipped unless they end in a container or boilerplate word ("tags-box")
_TAXONOMY = re.compile(r"(?:^|[-_])(?:category|categories|cat|tag|tags|topic|topics|format|type|status)[-_]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# a boilerplate word before one of these container words: "author-box", "share-bar", "tags-list"
_CONTAINER_HEAD = frozenset("""box wrap wrapper container area section block bar list info card details profile panel
module links inner""".split())
_NEG_ROLES = frozenset({"navigation", "complementary", "contentinfo", "banner", "search", "dialog", "alertdialog",
                        "menu", "menubar", "toolbar", "tablist", "note", "form"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SENT_END = re.compile(r"[.!?。！？…:;»\"”'’)]\s*$")
_PARSER = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, recover=True, encoding="utf-8",
                           default_doctype=False, collect_ids=False)
_cache: dict[str, int] = {}
_token_cache: dict[str, int] = {}
_DIGITS = re.compile(r"\d+")


def _classify_token(token: str) -> int:
    """Bit 1: the token marks boilerplate; bit 2: it marks content (cached: tokens repeat across pages)."""
    r = _token_cache.get(token)
    if r is not None:
        return r
    r = 0
    t = _CAMEL.sub("-", token).lower()
    parts = [p for p in _SPLIT.split(t) if p]
    if not parts or "(" in t or "$" in t:  # atomic CSS ("Bgc($bg-body)", "D(n)"): styling, not meaning
        pass
    elif _TAXONOMY.search(t) and parts[-1] not in _CONTAINER_HEAD and parts[-1] not in _NEG_HEAD:
        pass  # "category-social-media", "s-tag-comments": what the element is about ("tags-box" stays)
    else:
        if (t in _NEG_TOKEN or t in _NEG_ANY or any(p in _NEG_ANY for p in parts) or parts[-1] in _NEG_HEAD
                or t in _NEG_HEAD or (parts[0] in _NEG_HEAD and parts[-1] in _CONTAINER_HEAD)):
            r |= 1
        if any(p in _POS_PARTS for p in parts) and parts[-1] not in _NEG_HEAD:
            r |= 2
    if len(_token_cache) > 100_000:
        _token_cache.clear()
    _token_cache[token] = r
    return r


def _classify_name(value: str) -> int:
    """-1 boilerplate, 1 content, 0 neither, for a class or id value."""
    r = _cache.get(value)
    if r is not None:
        return r
    bits = 0
    tc = _token_cache
    for token in _DIGITS.sub("0", value).split():  # "comment-38094" and "comment-12" are one token to the cache
        b = tc.get(token)
        bits |= _classify_token(token) if b is None else b
    neg, pos = bits & 1, bits & 2
    r = -1 if neg and not pos else (1 if pos and not neg else (-1 if neg else 0))
    if len(_cache) > 50000:
        _cache.clear()
    _cache[value] = r
    return r


def _extra_flag(el) -> int:
    """-2 for hidden elements, -1 for boilerplate roles, 1 for main/article roles, 2 for schema.org articleBody."""
    get = el.get
    if get("aria-hidden") == "true":
        return -2
    style = get("style")
    if style and ("none" in style or "hidden" in style) and _HIDDEN_STYLE.search(style):
        return -2
    role = get("role")
    if role:
        if role in _NEG_ROLES:
            return -1
        if role == "main" or role == "article":
            return 1
    if get("itemprop") == "articleBody":
        return 2
    return 0


_RAW_OPEN = re.compile(r"<(script|style|svg|noscript)(?=[\s>/])|<!--", re.I)
_RAW_CLOSE = {name: re.compile(f"</{name}", re.I) for name in ("script", "style", "svg", "noscript")}


def _cut_raw_text(html: str) -> str:
    """Drop <script>/<style>/<svg>/<noscript> elements and comments before parsing: on real pages they are most of
    the bytes, and the parser would only build nodes that the extractor throws away. Their content ends at the first
    closing tag (as the HTML standard says for the first two); an unclosed one is left to the parser. One pass."""
    out = []
    pos = 0
    search = _RAW_OPEN.search
    while True:
        m = search(html, pos)
        if m is None:
            break
        name = m.group(1)
        if name:
            e = _RAW_CLOSE[name.lower()].search(html, m.end())
            if e is None:
                break
            close = html.find(">", e.end())
            if close < 0:
                break
            close += 1
        else:
            close = html.find("-->", m.end())
            if close < 0:
                break
            close += 3
        out.append(html[pos:m.start()])
        out.append(" ")
        pos = close
    if not out:
        return html
    out.append(html[pos:])
    return "".join(out)


def _parse(html: str):
    return etree.fromstring(_cut_raw_text(html).encode("utf-8", "surrogatepass"), _PARSER)


class TooDeep(ValueError):
    """The page nests deeper than libxml2's limit (256 levels): the parser stopped there and the rest is lost."""


def extract_fast(html: str | bytes, strict_depth: bool = False) -> str:
    """The main text of an HTML page, one block (paragraph, heading, list item) a line; "" when it has none.

    ``html`` is the decoded page (bytes are read as UTF-8). Never raises for malformed HTML, except ``TooDeep``
    with ``strict_depth`` when the parser had to stop at its nesting limit."""
    if not html:
        return ""
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    try:
        root = _parse(html)
    except (etree.LxmlError, ValueError):
        return ""
    if strict_depth:
        for err in _PARSER.error_log:
            if err.type_name == "ERR_RESOURCE_LIMIT" and "depth" in err.message:
                raise TooDeep(f"tags nest deeper than the parser's limit ({err.message})")
    if root is None:
        return ""
    etree.strip_elements(root, *_JUNK, with_tail=False)
    if _INLINE:
        etree.strip_tags(root, *_INLINE)
    body = root.find("body")
    if body is None:
        body = root
    blocks: list[tuple] = []  # (text, nchars, linkchars, stack, tag)
    neg: set[int] = set()
    hard: set[int] = set()
    pos: set[int] = set()
    parent: dict[int, int] = {}
    nkids: dict[int, int] = {}
    path: tuple[int, ...] = ()
    paths: list[tuple[int, ...]] = []
    tags: list[str] = []
    tag_now = "div"
    cur: list[str] = []
    raw = 0  # characters (raw) in cur, and of them in links
    raw_link = 0
    in_link = 0
    counter = 0
    pushed: list[bool] = []  # per open element: did it open a block?
    push = pushed.append
    add_block = blocks.append
    cache = _cache
    block_tags, neg_tags = _BLOCK, _NEG_TAGS
    for ev, el in etree.iterwalk(body, events=("start", "end")):
        if ev == "start":
            tag = el.tag
            if tag.__class__ is not str:
                push(False)
                continue
            flag = -1 if tag in neg_tags else 0
            if el.attrib:  # (most elements have no attributes: nothing to read)
                get = el.get
                cls = get("class")
                if cls:
                    c = cache.get(cls)
                    if c is None:
                        c = _classify_name(cls)
                    if c < 0:
                        flag = -1
                    elif c > 0 and flag == 0:
                        flag = 1
                ident = get("id")
                if ident:
                    c = cache.get(ident)
                    if c is None:
                        c = _classify_name(ident)
                    if c < 0:
                        flag = -1
                    elif c > 0 and flag == 0:
                        flag = 1
                if flag >= 0 and tag in block_tags:
                    extra = _extra_flag(el)
                    if extra:
                        flag = extra if extra < 0 or flag == 0 else flag
            if flag == -1 and (tag == "body" or tag == "html"):
                flag = 0
            if tag in block_tags or flag < 0:
                if cur:
                    text = " ".join("".join(cur).split())
                    if text:
                        n = len(text)
                        add_block((text, n, (n * raw_link) // raw if raw_link else 0, path, tag_now))
                    cur = []
                    raw = raw_link = 0
                counter += 1
                p = path[-1] if path else 0
                parent[counter] = p
                nkids[p] = nkids.get(p, 0) + 1
                paths.append(path)
                path = path + (counter,)
                tags.append(tag_now)
                tag_now = tag
                if flag < 0:
                    neg.add(counter)
                    if tag in neg_tags or (flag < -1 or _extra_flag(el) < 0):
                        hard.add(counter)  # marked by its tag, role or visibility, not only by a class name
                elif flag > 0:
                    pos.add(counter)
                push(True)
            else:
                push(False)
                if tag == "br" and cur:
                    text = " ".join("".join(cur).split())
                    if text:
                        n = len(text)
                        add_block((text, n, (n * raw_link) // raw if raw_link else 0, path, tag_now))
                    cur = []
                    raw = raw_link = 0
                elif tag == "a":
                    in_link += 1
            t = el.text
        else:
            if pushed.pop():
                if cur:
                    text = " ".join("".join(cur).split())
                    if text:
                        n = len(text)
                        add_block((text, n, (n * raw_link) // raw if raw_link else 0, path, tag_now))
                    cur = []
                    raw = raw_link = 0
                path = paths.pop()
                tag_now = tags.pop()
            elif el.tag == "a":
                in_link -= 1
            t = el.tail
        if t:
            cur.append(t)
            raw += len(t)
            if in_link:
                raw_link += len(t)
    if cur:
        text = " ".join("".join(cur).split())
        if text:
            n = len(text)
            add_block((text, n, (n * raw_link) // raw if raw_link else 0, path, tag_now))
    if not blocks:
        return ""
    text = _select(blocks, set(neg), pos, parent, nkids)
    if len(text) < RELAX_BELOW and len(hard) < len(neg) and not any(_good(t, len(t), 0) for t in text.split("\n")):
        # class names are hints: when obeying them leaves next to nothing that reads like prose, choose again with
        # only the elements marked by their tag, role or visibility left out (an article inside
        # "content-sidebar-wrap"); a short article that was found stays (its comments must not replace it)
        relaxed = _select(blocks, hard, pos, parent, nkids)
        if len(relaxed) > len(text):
            return relaxed
    return text


def _good(text: str, n: int, ln: int) -> bool:
    """A block that reads like article text: few link characters, long or ending like a sentence."""
    return ln <= 0.3 * n and (n >= 80 or (n >= 25 and _SENT_END.search(text) is not None))


GAP_CAP = 70.0  # the most a stretch of non-article blocks inside the container costs the run
LEAD_GAP = 12  # blocks: the first good block after the <h1> may start the run this far before the container
RELAX_BELOW = 200  # characters: a shorter result is chosen again without the class-name marks
L0 = 20.0  # a block is worth its non-link characters minus L0 in the run (short lines cost) ...
L0_ITEM = 20.0  # ... headings and list items less
_ITEM_TAGS = frozenset({"h2", "h3", "h4", "h5", "h6", "li", "dt", "dd"})
ASCEND_GAIN = 0.3  # go up to an ancestor that adds >= 30% more good text ...
ASCEND_PURITY = 0.5  # ... of which >= 50% of the added characters are good text
ANCHOR_SCORE = 3.0  # container-score bonus of the first good block after the <h1> (a long paragraph scores ~4-7)
ANCHOR_RUN = 60.0  # run-value bonus of that block
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def _select(blocks, neg, pos, parent, nkids) -> str:
    nb = len(blocks)
    weight = [0.0] * nb
    good = [False] * nb
    good_total = 0.0
    under: dict[int, float] = {}
    for i, (text, n, ln, st, tag) in enumerate(blocks):
        w = float(n - ln)
        if not text.isascii():
            w += 2 * len(_CJK.findall(text))
        weight[i] = w
        if _good(text, n, ln):
            good[i] = True
            good_total += w
            for e in st:
                if e in neg:
                    under[e] = under.get(e, 0.0) + w
    # a boilerplate-looking wrapper that holds most of the page's good text is a layout wrapper: not boilerplate
    for e, g in under.items():
        if g > 0.6 * good_total:
            neg.discard(e)
    clean = [neg.isdisjoint(b[3]) for b in blocks]
    # the first good block after the first <h1> is most likely where the article starts
    anchor = -1
    for i, b in enumerate(blocks):
        if b[4] == "h1":
            for j in range(i + 1, min(nb, i + 12)):
                if good[j] and clean[j]:
                    anchor = j
                    break
            break
    # 1. the best container: a good block's value goes to its container and, divided by the level, to the ones
    #    above (a wrapper with one child adds no level)
    score: dict[int, float] = {}
    for i, (text, n, ln, st, tag) in enumerate(blocks):
        if not good[i] or not clean[i]:
            continue
        v = 1.0 + text.count(",") + text.count("，") + text.count("、") + min(weight[i] / 100.0, 3.0)
        if i == anchor:
            v += ANCHOR_SCORE
        level = 1
        for j in range(len(st) - 2, -1, -1):
            e = st[j]
            score[e] = score.get(e, 0.0) + v / level
            if nkids.get(e, 0) > 1:
                level += 1
                if level > 4:
                    break
    if score:
        for e in pos:
            if e in score:
                score[e] *= 1.25
        best = max(score, key=score.__getitem__)
        # 2. go up while an ancestor adds much more good text, mostly good text (articles split into sections)
        gsum: dict[int, float] = {}
        tsum: dict[int, float] = {}
        for i, (text, n, ln, st, tag) in enumerate(blocks):
            gi = weight[i] if good[i] and clean[i] else 0.0
            for e in st:
                tsum[e] = tsum.get(e, 0.0) + n
                if gi:
                    gsum[e] = gsum.get(e, 0.0) + gi
        cur = best
        a = parent.get(best, 0)
        while a:
            gained = gsum.get(a, 0.0) - gsum.get(cur, 0.0)
            total = tsum.get(a, 0.0) - tsum.get(cur, 0.0)
            if gained >= ASCEND_GAIN * gsum.get(cur, 0.0) and gained >= ASCEND_PURITY * total and gained > 0:
                cur = a
            a = parent.get(a, 0)
        region = [i for i, b in enumerate(blocks) if cur in b[3]]
        top = cur
        if 0 <= anchor < region[0] and region[0] - anchor <= LEAD_GAP:
            # the lead under the title, outside the body's container (a header or intro box): the run may start
            # there; the blocks in between are scored like any other
            region = list(range(anchor, region[0])) + region
    else:
        region = list(range(nb))
        top = 0
    # 3. the maximum-sum run of blocks in the region (Kadane): trims menus, bylines and teasers at its edges. A
    #    stretch of non-article blocks inside costs at most GAP_CAP whatever its length (a chart, an ad box, a
    #    related-links list between two parts of the article must not cut it), and a stretch that reaches the
    #    cap is left out of the text
    vals = []
    for i in region:
        text, n, ln, st, tag = blocks[i]
        if not _clean_below(st, top, neg) or ln > 0.5 * n:
            v = -float(n) - 10.0
        else:
            v = weight[i] - (L0_ITEM if tag in _ITEM_TAGS else L0)
            if _SENT_END.search(text):
                v += 20.0
            if i == anchor:
                v += ANCHOR_RUN
        vals.append(v)
    skip = [False] * len(region)
    k = 0
    while k < len(vals):
        if vals[k] >= 0:
            k += 1
            continue
        j, cost = k, 0.0
        while j < len(vals) and vals[j] < 0:
            cost -= vals[j]
            j += 1
        if cost > GAP_CAP:
            left = GAP_CAP
            for m in range(k, j):
                skip[m] = True
                vals[m] = -min(-vals[m], left)
                left += vals[m]
        k = j
    best_sum = run = 0.0
    start = 0
    bs = be = -1
    for k, v in enumerate(vals):
        if run <= 0:
            run, start = v, k
        else:
            run += v
        if run > best_sum:
            best_sum, bs, be = run, start, k
    if bs < 0:
        return ""
    out = []
    for k in range(bs, be + 1):
        text, n, ln, st, tag = blocks[region[k]]
        if skip[k] or ln > 0.5 * n or not _clean_below(st, top, neg):
            continue
        out.append(text)
    return "\n".join(out)


def _clean_below(st: tuple, top: int, neg: set) -> bool:
    """No boilerplate-marked element between ``top`` (exclusive) and the block."""
    if neg.isdisjoint(st):
        return True
    if top and top in st:
        return neg.isdisjoint(st[st.index(top) + 1:])
    return False
