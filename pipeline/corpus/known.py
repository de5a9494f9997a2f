"""Pages whose main text is known: the extraction benchmark's ground truth, and hostile pages for time limits.

``known_text_pages(n, seed)`` renders ``n`` pages over all twelve layouts of :mod:`pipeline.corpus.pages` (the four
of the embedded corpus and the eight of :data:`~pipeline.corpus.pages.EXTRA_LAYOUTS`), round robin. Each page's
``text`` is its article body as the reader sees it: paragraphs, subheadings, list items and quotes, one per line,
without the title, byline, captions or anything the template adds (the convention of the article-extraction
benchmarks' ``articleBody``). The body is drawn from the standard library's prose pool
(:mod:`pipeline.corpus.prose`), and so are the hard negatives around it (related-article teasers, comments), never
from the page's own paragraphs. Same ``(n, seed)``, same pages, byte for byte.

``hostile_pages()`` returns pages that stall or blow up HTML parsers (deep nesting, unclosed tables, a multi-megabyte
table); they have no main text worth scoring and serve the hard-time-limit checks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from .pages import (ALL_LAYOUTS, LAYOUTS, Block, _sentences_of, blocks_html, blocks_text, make_site, page_url,
                    render_layout, render_page)
from .prose import all_paragraphs, prose_pool

#: how each layout renders its body blocks, and how often inline ads/"Read more" links/figures interrupt them
_STYLE = {"table_grid": ("br", 0.0), "div_soup": ("div", 0.1), "magazine": ("wrapped", 0.25), "portal": ("p", 0.35),
          "comments": ("p", 0.1), "short": ("p", 0.0), "docs_toc": ("p", 0.0), "wiki": ("p", 0.0)}


@dataclass(frozen=True)
class KnownPage:
    """A rendered page and its known main text."""

    url: str
    layout: str
    html: str
    text: str
    title: str


def _rng(seed: int, index: int, purpose: str) -> random.Random:
    return random.Random(f"assay-known:{seed}:{index}:{purpose}")


def article_blocks(rng: random.Random, short: bool = False) -> tuple[str, list[Block]]:
    """(title, body blocks): a run of one article's paragraphs, then paragraphs from the whole pool, with
    subheadings, a list or a quote now and then. ``short`` gives one or two paragraphs (a page with little text)."""
    pool, flat = prose_pool(), all_paragraphs()
    art = rng.choice(pool)
    if short:
        pars = [art.paragraphs[rng.randrange(len(art.paragraphs))]]
        if rng.random() < 0.5:
            pars.append(flat[int(rng.random() * len(flat))])
        return art.title, [Block("p", (p,)) for p in pars if p]
    target = rng.randint(4, 18)
    run = min(len(art.paragraphs), rng.randint(1, max(1, target // 2)))
    start = rng.randrange(len(art.paragraphs) - run + 1)
    pars = list(art.paragraphs[start:start + run])
    while len(pars) < target:
        par = flat[int(rng.random() * len(flat))]
        if par not in pars:
            pars.append(par)
    blocks: list[Block] = []
    i = 0
    others = [a.title for a in rng.sample(pool, 6)]
    while i < len(pars):
        if i >= 2 and rng.random() < 0.18 and others:
            blocks.append(Block(rng.choice(("h2", "h2", "h3")), (others.pop(),)))
        r = rng.random()
        if r < 0.08:  # a list made of one paragraph's sentences
            sents = _sentences_of(pars[i])
            if len(sents) >= 2:
                blocks.append(Block(rng.choice(("ul", "ol")), tuple(sents)))
                i += 1
                continue
        if r < 0.14:
            blocks.append(Block("quote", (pars[i],)))
        elif r < 0.40 and i + 1 < len(pars):  # real paragraphs are longer than the pool's: merge two
            blocks.append(Block("p", (f"{pars[i]} {pars[i + 1]}",)))
            i += 1
        else:
            blocks.append(Block("p", (pars[i],)))
        i += 1
    return art.title, blocks


def known_text_page(index: int, seed: int = 0, layout: str | None = None) -> KnownPage:
    """Page ``index`` of the known-text set (layout round robin over :data:`ALL_LAYOUTS` unless given)."""
    layout = layout or ALL_LAYOUTS[index % len(ALL_LAYOUTS)]
    site = make_site(_rng(seed, index, "site"), "en", layouts=(layout,))
    rng = _rng(seed, index, "page")
    head, blocks = article_blocks(_rng(seed, index, "content"), short=layout == "short")
    prefix = rng.choice(("", "", "Notes on ", "A guide to ", "Understanding ", "Working with "))
    title = prefix + (head[4:] if prefix and head.startswith("The ") else head)
    text = blocks_text(blocks)
    titles = [a.title for a in rng.sample(prose_pool(), 10)]
    url = page_url(site.domain, _rng(seed, index, "url"), index)
    if layout in LAYOUTS:
        content = blocks_html(blocks, rng, "p")
        page = render_page(site, title, content, rng, sidebar_titles=titles)
    else:
        style, noise = _STYLE[layout]
        content = blocks_html(blocks, rng, style, site=site, noise=noise, titles=titles)
        own = {p for b in blocks for p in b.parts}
        headings = [b.parts[0] for b in blocks if b.kind in ("h2", "h3")]
        page = render_layout(site, title, content, rng, titles=titles, pool=all_paragraphs(), avoid=own,
                             headings=headings, ld_text=text)
    return KnownPage(url=url, layout=layout, html=page, text=text, title=title)


def known_text_pages(n: int, seed: int = 0, layouts: Sequence[str] | None = None) -> list[KnownPage]:
    """``n`` pages with known main text; ``layouts`` (default all twelve) are used round robin."""
    layouts = tuple(layouts or ALL_LAYOUTS)
    unknown = set(layouts) - set(ALL_LAYOUTS)
    if unknown:
        raise ValueError(f"unknown layouts {sorted(unknown)}; known: {list(ALL_LAYOUTS)}")
    return [known_text_page(i, seed, layouts[i % len(layouts)]) for i in range(n)]


# ------------------------------------------------------------------------------------------------- hostile pages


def hostile_pages(scale: float = 1.0) -> dict[str, str]:
    """Pages that stress parsers, by name. ``scale`` shrinks them for quick tests (1.0 = the benchmark's sizes:
    50k nested ``<div>``, 100k unclosed ``<table>``, a ~4 MB table, 20k unclosed ``<p><b>`` pairs)."""
    n_div, n_table, n_rows, n_p = (max(10, int(k * scale)) for k in (50_000, 100_000, 60_000, 20_000))
    text = "This sentence is the only text on the page and it sits at the very bottom of the tree."
    row = "<tr><td>{i}</td><td>2024-01-{d:02d}</td><td>{v:.4f}</td><td>item-{i:x}</td><td>ok</td></tr>"
    table = "".join(row.format(i=i, d=1 + i % 28, v=i * 0.37) for i in range(n_rows))
    return {
        "nested_div": f"<html><body>{'<div>' * n_div}<p>{text}</p>{'</div>' * n_div}</body></html>",
        "unclosed_table": f"<html><body>{'<table>' * n_table}<p>{text}</p></body></html>",
        "mega_table": f"<html><body><h1>Export</h1><p>{text}</p><table>{table}</table></body></html>",
        "unclosed_inline": f"<html><body>{'<p><b>x ' * n_p}<p>{text}</p></body></html>",
    }
