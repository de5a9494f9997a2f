"""Web-page rendering: a random site (domain, navigation, cookie banner, sidebar, footer) around a page's content.

Over 400 lines: twelve page layouts of one renderer; each is a short template, split they would repeat the
shared site pieces.

Everything is drawn from the ``random.Random`` passed in, so a page renders to the same bytes for the same seed.
Four layouts (classic, blog, docs, news) vary the markup the way different CMSs do; the content always sits in
``<main>``/``<article>`` with an ``<h1>``, so main-content extractors (trafilatura, resiliparse) can find it. These
four are the embedded corpus' layouts (:data:`LAYOUTS`). Eight more (:data:`EXTRA_LAYOUTS`, for the extraction
benchmark in :mod:`pipeline.corpus.known`) add comment sections, author boxes, tables of contents, share bars,
related-article teasers, multi-column and table-based templates, pages with little text, and four templates whose
content is not in ``<article>``/``<main>`` at all (:data:`UNMARKED_LAYOUTS`).
"""

from __future__ import annotations

import functools
import html
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

_ADJ = ("blue", "quick", "open", "bright", "north", "silver", "quiet", "red", "green", "little", "modern", "urban",
        "smart", "daily", "simple", "clever", "golden", "happy", "lucky", "prime", "solid", "swift", "true", "wild")
_NOUN = ("byte", "leaf", "stack", "harbor", "pixel", "river", "forge", "lab", "notes", "wiki", "hub", "press",
         "garden", "studio", "works", "journal", "corner", "digest", "review", "academy", "point", "bridge",
         "tribune", "compass")
_TLD = {"en": ("com", "org", "net", "io", "dev", "info", "co.uk", "blog"), "de": ("de", "at", "ch"),
        "fr": ("fr", "be", "ca"), "es": ("es", "mx", "ar"), "it": ("it",), "ru": ("ru", "by"), "zh": ("cn", "com.cn"),
        "la": ("com", "net")}
_SECTIONS = ("blog", "docs", "articles", "guide", "news", "posts", "learn", "reference", "wiki", "tutorials")
_NAV = {
    "en": ("Home", "About", "Blog", "Docs", "Products", "Pricing", "Contact", "Support", "Careers", "News",
           "Community", "Download", "Services", "FAQ", "Shop", "Events"),
    "de": ("Startseite", "Über uns", "Kontakt", "Impressum", "Datenschutz", "Aktuelles", "Produkte", "Hilfe"),
    "fr": ("Accueil", "À propos", "Contact", "Actualités", "Produits", "Aide", "Mentions légales", "Blog"),
    "es": ("Inicio", "Sobre nosotros", "Contacto", "Noticias", "Productos", "Ayuda", "Aviso legal", "Blog"),
    "it": ("Home", "Chi siamo", "Contatti", "Notizie", "Prodotti", "Aiuto", "Note legali", "Blog"),
    "ru": ("Главная", "О нас", "Контакты", "Новости", "Продукты", "Помощь", "Блог", "Каталог"),
    "zh": ("首页", "关于我们", "联系我们", "新闻", "产品", "帮助", "博客", "服务"),
}
_COOKIE = {
    "en": ("We use cookies to improve your experience on our site. By continuing to browse, you agree to our use of "
           "cookies.", "This website uses cookies to ensure you get the best experience. Read our cookie policy.",
           "We and our partners use cookies to personalise content and ads and to analyse our traffic.",
           "Our site uses cookies. Please see our privacy policy for details."),
    "de": ("Diese Website verwendet Cookies. Mit der Nutzung stimmen Sie der Verwendung von Cookies zu.",),
    "fr": ("Ce site utilise des cookies pour améliorer votre expérience. En continuant, vous acceptez leur "
           "utilisation.",),
    "es": ("Este sitio web utiliza cookies para mejorar su experiencia. Al continuar, acepta su uso.",),
    "it": ("Questo sito utilizza i cookie per migliorare la tua esperienza. Continuando accetti il loro utilizzo.",),
    "ru": ("Этот сайт использует файлы cookie. Продолжая, вы соглашаетесь с их использованием.",),
    "zh": ("本网站使用Cookie来改善您的体验。继续浏览即表示您同意我们使用Cookie。",),
}
_ACCEPT = {"en": ("Accept", "Accept all", "OK", "Got it"), "de": ("Akzeptieren",), "fr": ("Accepter",),
           "es": ("Aceptar",), "it": ("Accetta",), "ru": ("Принять",), "zh": ("接受",)}
_FOOTER_LINKS = ("Privacy Policy", "Terms of Use", "Cookie Settings", "Sitemap", "Contact us", "Accessibility",
                 "Advertise", "Press", "Imprint", "RSS")
_SIDEBAR_HEADS = ("Popular posts", "Recent articles", "Related", "Trending now", "You may also like", "Categories")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
LAYOUTS = ("classic", "blog", "docs", "news")


def esc(text: str) -> str:
    """HTML-escape text content."""
    return html.escape(text, quote=False)


@dataclass(frozen=True)
class Site:
    """A web site: its name, domain, menu and layout; copies of a page on other sites get other boilerplate."""

    name: str
    domain: str
    lang: str
    layout: str
    nav: tuple[str, ...]
    section: str
    year: int


def site_domain(rng: random.Random, lang: str = "en") -> tuple[str, str]:
    """(site name, domain): the first draws of :func:`make_site`, cheap enough to plan 100k pages."""
    a, n = rng.choice(_ADJ), rng.choice(_NOUN)
    tld = rng.choice(_TLD.get(lang, _TLD["en"]))
    sub = rng.choice(("www.", "www.", "", "blog.", "docs.", "m."))
    num = str(int(rng.random() * 100)) if rng.random() < 0.3 else ""
    return f"{a.title()}{n.title()}", f"{sub}{a}{n}{num}.{tld}"


def make_site(rng: random.Random, lang: str = "en", layouts: Sequence[str] = LAYOUTS) -> Site:
    """Draw a random site for a page in language ``lang``, its layout one of ``layouts``."""
    name, domain = site_domain(rng, lang)
    nav_words = _NAV.get(lang, _NAV["en"])
    nav = tuple(rng.sample(nav_words, rng.randint(4, min(8, len(nav_words)))))
    return Site(name=name, domain=domain, lang=lang, layout=rng.choice(layouts), nav=nav,
                section=rng.choice(_SECTIONS), year=rng.randint(2012, 2024))


def page_url(domain: str, rng: random.Random, index: int) -> str:
    """A URL on ``domain``; ``index`` (the page's position in the corpus) makes it unique."""
    words = "-".join(rng.choice(_ADJ + _NOUN) for _ in range(2 + int(rng.random() * 3)))
    return f"https://{domain}/{rng.choice(_SECTIONS)}/{words}-{index:x}"


@functools.lru_cache(maxsize=4096)
def _li(label: str) -> str:
    return f'<li><a href="/{esc(label.lower().replace(" ", "-"))}">{esc(label)}</a></li>'


def _links(rng: random.Random, labels, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<ul{attr}>{''.join(map(_li, labels))}</ul>"


def _cookie(site: Site, rng: random.Random) -> str:
    lang = site.lang if site.lang in _COOKIE else "en"
    text = rng.choice(_COOKIE[lang])
    button = rng.choice(_ACCEPT[lang])
    cid = rng.choice(("cookie-banner", "cookie-consent", "gdpr-notice", "cc-window"))
    return (f'<div id="{cid}" class="cookie-notice"><p>{esc(text)}</p>'
            f'<button type="button">{esc(button)}</button> <a href="/privacy">Manage preferences</a></div>')


def _sidebar(site: Site, rng: random.Random, titles: list[str]) -> str:
    parts = []
    for _ in range(rng.randint(1, 3)):
        head = rng.choice(_SIDEBAR_HEADS)
        labels = [rng.choice(titles) if titles else f"{rng.choice(_ADJ).title()} {rng.choice(_NOUN)}"
                  for _ in range(rng.randint(3, 7))]
        parts.append(f'<section class="widget"><h3>{esc(head)}</h3>{_links(rng, labels)}</section>')
    if rng.random() < 0.5:
        months = [f"{rng.choice(_MONTHS)} {rng.randint(site.year - 3, site.year)}" for _ in range(4)]
        parts.append(f'<section class="widget archives"><h3>Archives</h3>{_links(rng, months)}</section>')
    if rng.random() < 0.4:
        parts.append('<section class="newsletter"><h3>Newsletter</h3><form><input type="email" '
                     'placeholder="Your email"><button>Subscribe</button></form></section>')
    return "".join(parts)


def _footer(site: Site, rng: random.Random) -> str:
    links = rng.sample(_FOOTER_LINKS, rng.randint(3, 6))
    return (f'<footer class="site-footer">{_links(rng, links, "footer-links")}'
            f"<p>&copy; {site.year} {esc(site.name)}. All rights reserved.</p></footer>")


def _header(site: Site, rng: random.Random) -> str:
    logo = f'<a class="logo" href="/">{esc(site.name)}</a>'
    search = '<form class="search"><input type="search" name="q" placeholder="Search"></form>' if rng.random() < 0.5 else ""
    return f'<header class="site-header">{logo}<nav class="main-nav">{_links(rng, site.nav, "menu")}</nav>{search}</header>'


def render_page(site: Site, title: str, content_html: str, rng: random.Random, *,
                sidebar_titles: list[str] | None = None, description: str = "", keywords: str = "") -> str:
    """Wrap ``content_html`` (already escaped, usually ``<p>`` paragraphs) in a full page of ``site``."""
    if site.layout in EXTRA_LAYOUTS:
        return render_layout(site, title, content_html, rng, titles=sidebar_titles or ())
    sidebar_titles = sidebar_titles or []
    head = [f'<meta charset="utf-8"><title>{esc(title)} | {esc(site.name)}</title>',
            '<meta name="viewport" content="width=device-width, initial-scale=1">']
    if description:
        head.append(f'<meta name="description" content="{html.escape(description)}">')
    if keywords:
        head.append(f'<meta name="keywords" content="{html.escape(keywords)}">')
    head.append(f'<link rel="stylesheet" href="/static/{site.layout}.css">')
    cookie = _cookie(site, rng) if rng.random() < 0.8 else ""
    byline = ""
    if rng.random() < 0.6:
        byline = (f'<p class="meta">Posted on {rng.choice(_MONTHS)} {rng.randint(1, 28)}, {site.year} '
                  f'by <a href="/author/{rng.choice(_NOUN)}">{rng.choice(_ADJ).title()} {rng.choice(_NOUN).title()}</a></p>')
    article = f"<article><h1>{esc(title)}</h1>{byline}{content_html}</article>"
    header, footer = _header(site, rng), _footer(site, rng)
    aside = f'<aside class="sidebar">{_sidebar(site, rng, sidebar_titles)}</aside>'
    if site.layout == "classic":
        body = f"{cookie}{header}<main>{article}</main>{aside}{footer}"
    elif site.layout == "blog":
        post = article.replace("<article>", '<article class="post">', 1)
        body = (f'<div class="wrapper">{header}<div class="content"><main id="main" class="site-main">'
                f"{post}</main>{aside}</div>{footer}</div>{cookie}")
    elif site.layout == "docs":
        crumbs = f'<nav class="breadcrumbs"><a href="/">{esc(site.name)}</a> &raquo; <a href="/{site.section}">{esc(site.section.title())}</a></nav>'
        body = f'{header}{cookie}<div class="docs">{aside}<main class="docs-main">{crumbs}{article}</main></div>{footer}'
    else:  # news
        topbar = (f'<div class="topbar"><span>{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {site.year}</span> '
                  '<a href="/login">Log in</a> <a href="/subscribe">Subscribe</a></div>')
        body = f'{topbar}{header}<div class="container"><div class="row"><main>{article}</main>{aside}</div></div>{footer}{cookie}'
    return f'<!DOCTYPE html><html lang="{site.lang}"><head>{"".join(head)}</head><body>{body}</body></html>'


def paragraphs_html(paragraphs: list[str]) -> str:
    """``<p>`` elements for plain-text paragraphs."""
    return "".join(f"<p>{esc(p)}</p>" for p in paragraphs)


# ------------------------------------------------------------------------------------------- more layouts (issue 12)
#
# Eight more page templates for the extraction benchmark (``pipeline.corpus.known``). They add the boilerplate that
# main-text extractors get wrong on real pages: comment sections, author boxes, tables of contents, share bars,
# related-article cards with teaser sentences, "most read" lists, inline ads and "Read more" links inside the article,
# multi-column and table-based templates, a page with little main text, a wiki page, and bulky markup (inline CSS and
# JS, SVG icons, wrapper divs). The content sits in ``<article>``/``<main>`` where a real CMS puts it, but in four of
# them (magazine, table_grid, div_soup, wiki) it does not: only the markup around it tells it apart.
#
# ``make_site`` never draws these layouts, so the embedded corpus keeps its bytes; :func:`make_site` with
# ``layouts=ALL_LAYOUTS`` (or ``Site(layout=...)``) selects them, and :func:`render_page` renders any of them.

EXTRA_LAYOUTS = ("magazine", "comments", "docs_toc", "table_grid", "div_soup", "short", "portal", "wiki")
ALL_LAYOUTS = LAYOUTS + EXTRA_LAYOUTS
#: layouts whose main content is not inside <article> or <main>
UNMARKED_LAYOUTS = ("magazine", "table_grid", "div_soup", "wiki")

_FIRST = ("Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "James", "Kenji", "Laura",
          "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yara")
_LAST = ("Adams", "Baker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova", "Jensen", "Kowalski",
         "Lopez", "Meyer", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber", "Young", "Zhang")
_ROLES = ("senior writer", "staff reporter", "contributing editor", "software engineer", "technical writer",
          "columnist", "data journalist", "developer advocate", "freelance writer", "editor at large")
_TOPICS = ("programming languages", "open source", "cloud infrastructure", "developer tools", "data science",
           "security", "web standards", "education", "science policy", "databases", "distributed systems")
_SHARE = ("Facebook", "Twitter", "LinkedIn", "Reddit", "Email", "WhatsApp", "Copy link", "Print")
_CHATTY = ("Thanks for writing this up, it was exactly what I needed.", "Great article!", "Very helpful, thank you.",
           "I ran into the same issue last week and this explanation finally made it click.",
           "Could you write a follow-up on the performance side of this?", "Bookmarked for later.",
           "This is wrong in one detail, see the documentation.", "Nice summary. Shared it with my team.",
           "I disagree with the second point, but the rest is spot on.", "Does this still apply to the latest release?")
_DISCLAIMERS = (
    "All content on this site is provided for general information only and does not constitute professional advice. "
    "While we try to keep the information up to date and correct, we make no representations or warranties of any "
    "kind about its completeness or accuracy.",
    "{site} participates in affiliate programs and may earn a commission when you buy through links on our site. "
    "This does not affect our editorial independence.",
    "Unless otherwise noted, the text of this site is licensed under a Creative Commons Attribution license. Code "
    "samples are licensed under the MIT license. Trademarks belong to their respective owners.",
    "{site} is an independent publication. Opinions expressed by contributors are their own and do not necessarily "
    "reflect the views of the editors.",
)
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _sentences_of(par: str) -> list[str]:
    return [s for s in _SENT_SPLIT.split(par) if s]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "x"


def _hashcls(rng: random.Random, prefix: str = "css-") -> str:
    """An obfuscated CSS-in-JS class name (no semantic hint)."""
    return prefix + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))


def _svg_icon(rng: random.Random) -> str:
    pts = " ".join(f"{rng.randint(0, 24)} {rng.randint(0, 24)}" for _ in range(rng.randint(3, 8)))
    return (f'<svg class="icon" viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">'
            f'<path d="M{pts}Z" fill="currentColor"></path></svg>')


def _inline_assets(site: Site, rng: random.Random, title: str, text_for_ld: str = "") -> str:
    """Inline CSS and JS of the size real templates carry (extractors must skip all of it)."""
    rules = []
    for _ in range(rng.randint(40, 160)):
        sel = rng.choice((".", "#", "")) + rng.choice(_ADJ) + "-" + rng.choice(_NOUN)
        rules.append(f"{sel}{{margin:{rng.randint(0, 32)}px;color:#{rng.getrandbits(24):06x};"
                     f"font-size:{rng.randint(10, 28)}px}}")
    css = f"<style>{''.join(rules)}</style>"
    js_vars = ";".join(f"w.{rng.choice(_NOUN)}{i}={rng.randint(0, 10**6)}" for i in range(rng.randint(10, 60)))
    js = ("<script>(function(w,d){w.dataLayer=w.dataLayer||[];w.dataLayer.push({'event':'pageview','section':'"
          f"{site.section}'}});{js_vars};}})(window,document);</script>")
    ld = ""
    if rng.random() < 0.5:
        body = f',"articleBody":"{html.escape(text_for_ld[:2000])}"' if text_for_ld and rng.random() < 0.5 else ""
        ld = (f'<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Article",'
              f'"headline":"{html.escape(title)}","publisher":{{"@type":"Organization","name":"{esc(site.name)}"}}'
              f"{body}}}</script>")
    return css + js + ld


def _mega_nav(site: Site, rng: random.Random, cls: str = "main-nav") -> str:
    """A navigation menu with submenus (20-90 links)."""
    items = []
    for label in site.nav:
        subs = [f"{rng.choice(_ADJ).title()} {rng.choice(_NOUN)}" for _ in range(rng.randint(2, 10))]
        sub = "".join(f'<li class="menu-item"><a href="/{_slug(site.section)}/{_slug(s)}">{esc(s)}</a></li>'
                      for s in subs)
        items.append(f'<li class="menu-item has-children"><a href="/{_slug(label)}">{esc(label)}</a>'
                     f'<ul class="sub-menu">{sub}</ul></li>')
    return f'<nav class="{cls}" aria-label="Main"><ul class="menu">{"".join(items)}</ul></nav>'


def _share_bar(rng: random.Random) -> str:
    nets = rng.sample(_SHARE, rng.randint(3, 7))
    links = "".join(f'<li><a class="share-{_slug(n)}" href="#share" rel="nofollow">{_svg_icon(rng)}'
                    f"<span>{esc(n)}</span></a></li>" for n in nets)
    lead = rng.choice(("Share this article", "Share", "Share this:", "Spread the word"))
    count = f'<span class="share-count">{rng.randint(2, 990)} shares</span>' if rng.random() < 0.5 else ""
    return f'<div class="share-bar"><span class="share-label">{lead}</span>{count}<ul>{links}</ul></div>'


def _author_box(site: Site, rng: random.Random, name: str) -> str:
    he = rng.choice(("He", "She", "They"))
    verb = "write" if he == "They" else "writes"
    bio = (f"{name} is a {rng.choice(_ROLES)} at {site.name}. {he} {verb} about {rng.choice(_TOPICS)} and "
           f"{rng.choice(_TOPICS)}, and {'have' if he == 'They' else 'has'} covered the field for "
           f"{rng.randint(2, 20)} years.")
    if rng.random() < 0.5:
        bio += f" Before joining {site.name}, {he.lower()} worked as a {rng.choice(_ROLES)} in {rng.choice(_TOPICS)}."
    return (f'<div class="author-box"><img class="avatar" src="/img/{_slug(name)}.jpg" alt="{esc(name)}" width="64">'
            f'<div class="author-info"><h4>About {esc(name)}</h4><p>{esc(bio)}</p>'
            f'<a href="/author/{_slug(name)}">View all posts by {esc(name)}</a></div></div>')


def _teaser(rng: random.Random, pool: Sequence[str], avoid: set[str]) -> str:
    for _ in range(20):
        par = pool[int(rng.random() * len(pool))]
        if par not in avoid:
            sents = _sentences_of(par)
            return " ".join(sents[: rng.randint(1, 2)])
    return ""


def _related(rng: random.Random, titles: list[str], pool: Sequence[str], avoid: set[str], cls: str = "related") -> str:
    head = rng.choice(("Related articles", "You might also like", "More stories", "Read next", "Recommended"))
    cards = []
    for _ in range(rng.randint(3, 6)):
        t = rng.choice(titles) if titles else "More"
        teaser = f"<p>{esc(_teaser(rng, pool, avoid))}</p>" if rng.random() < 0.7 else ""
        cards.append(f'<div class="card"><a href="/{_slug(t)}"><img src="/img/{_slug(t)}.jpg" alt="">'
                     f"<h3>{esc(t)}</h3></a>{teaser}<span class=\"meta\">{rng.randint(2, 15)} min read</span></div>")
    return f'<section class="{cls}"><h2>{esc(head)}</h2><div class="cards">{"".join(cards)}</div></section>'


def _comments(rng: random.Random, pool: Sequence[str], avoid: set[str], tag: str = "article") -> str:
    n = rng.randint(2, 14)
    items = []
    for i in range(n):
        who = _person(rng) if rng.random() < 0.7 else rng.choice(_NOUN) + str(rng.randint(1, 999))
        if rng.random() < 0.5:
            text = rng.choice(_CHATTY)
        else:
            text = _teaser(rng, pool, avoid)
        when = f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(2015, 2024)} at {rng.randint(1, 12)}:{rng.randint(0, 59):02d} pm"
        items.append(f'<li id="comment-{i + 1}" class="comment"><{tag} class="comment-body">'
                     f'<footer class="comment-meta"><b class="fn">{esc(who)}</b> <span class="says">says:</span>'
                     f'<time>{when}</time></footer><div class="comment-content"><p>{esc(text)}</p></div>'
                     f'<div class="reply"><a class="comment-reply-link" href="#respond">Reply</a></div></{tag}></li>')
    form = ('<div id="respond" class="comment-respond"><h3>Leave a Reply</h3><form class="comment-form">'
            '<p class="comment-notes">Your email address will not be published. Required fields are marked *</p>'
            '<label>Comment *</label><textarea></textarea><label>Name *</label><input type="text">'
            '<label>Email *</label><input type="email"><button>Post Comment</button></form></div>')
    return (f'<section id="comments" class="comments-area"><h2 class="comments-title">{n} thoughts on this post</h2>'
            f'<ol class="comment-list">{"".join(items)}</ol>{form}</section>')


def _popular(rng: random.Random, titles: list[str]) -> str:
    head = rng.choice(("Most read", "Popular now", "Trending", "Editor's picks"))
    items = "".join(f'<li><a href="/{_slug(t)}">{esc(t)}</a></li>' for t in rng.sample(titles, min(len(titles), 5)))
    return f'<div class="popular"><h3>{head}</h3><ol>{items}</ol></div>'


def _toc(headings: list[str], rng: random.Random) -> str:
    head = rng.choice(("Contents", "Table of contents", "On this page", "In this article"))
    items = "".join(f'<li><a href="#{_slug(h)}">{esc(h)}</a></li>' for h in headings)
    return f'<nav class="toc" aria-label="{head}"><p class="toc-title">{head}</p><ol>{items}</ol></nav>'


def _newsletter_box(site: Site, rng: random.Random) -> str:
    line = rng.choice(("Get the best of {s} in your inbox every week.", "Sign up for the {s} newsletter.",
                       "Never miss a story: subscribe to {s} today.")).format(s=site.name)
    return (f'<div class="newsletter-signup"><p>{esc(line)}</p><form><input type="email" placeholder="Email address">'
            '<button>Sign up</button></form><small>You can unsubscribe at any time.</small></div>')


def _big_footer(site: Site, rng: random.Random, tag: str = "footer") -> str:
    cols = []
    for head in rng.sample(("Company", "Resources", "Community", "Legal", "Follow us", "Sections"), rng.randint(2, 4)):
        labels = rng.sample(_FOOTER_LINKS + site.nav, rng.randint(3, 7))
        cols.append(f'<div class="footer-col"><h4>{head}</h4>{_links(rng, labels)}</div>')
    disc = rng.choice(_DISCLAIMERS).format(site=site.name) if rng.random() < 0.7 else ""
    disc_html = f'<p class="disclaimer">{esc(disc)}</p>' if disc else ""
    return (f'<{tag} class="site-footer"><div class="footer-cols">{"".join(cols)}</div>{disc_html}'
            f"<p>&copy; {site.year} {esc(site.name)}. All rights reserved.</p></{tag}>")


def _inline_noise(site: Site, rng: random.Random, titles: list[str]) -> str:
    """Something a CMS drops between the paragraphs of an article."""
    r = rng.random()
    if r < 0.3:
        return ('<div class="ad-slot"><span class="ad-label">Advertisement</span>'
                f'<div id="div-gpt-ad-{rng.randint(10**5, 10**6)}"></div></div>')
    if r < 0.6 and titles:
        lead = rng.choice(("Read more:", "Related:", "See also:", "Also read:"))
        t = rng.choice(titles)
        return f'<p class="inline-related"><strong>{lead}</strong> <a href="/{_slug(t)}">{esc(t)}</a></p>'
    if r < 0.8:
        who = _person(rng)
        return (f'<figure class="wp-block-image"><img src="/img/{rng.getrandbits(32):08x}.jpg" alt="">'
                f"<figcaption>Photo: {esc(who)} / {esc(site.name)}</figcaption></figure>")
    return _newsletter_box(site, rng)


def _link_words(rng: random.Random, text: str) -> str:
    """Escape ``text``, sometimes linking or emphasising a few of its words (they stay part of the text)."""
    if rng.random() >= 0.35:
        return esc(text)
    words = text.split(" ")
    if len(words) < 8:
        return esc(text)
    i = rng.randrange(len(words) - 4)
    k = rng.randint(1, 4)
    tag = rng.choice(("a", "a", "em", "strong", "code"))
    attr = f' href="/{_slug(" ".join(words[i:i + k]))}"' if tag == "a" else ""
    return (esc(" ".join(words[:i])) + f" <{tag}{attr}>" + esc(" ".join(words[i:i + k])) + f"</{tag}> "
            + esc(" ".join(words[i + k:]))).strip()


@dataclass(frozen=True)
class Block:
    """One block of an article's main text: a paragraph, a heading, a list or a quote."""

    kind: str  # "p", "h2", "h3", "ul", "ol", "quote"
    parts: tuple[str, ...]


def blocks_text(blocks: Sequence[Block]) -> str:
    """The main text of ``blocks``, one line per paragraph, heading or list item (the benchmark's ground truth)."""
    return "\n".join(p for b in blocks for p in b.parts)


def blocks_html(blocks: Sequence[Block], rng: random.Random, style: str = "p", *, site: Site | None = None,
                noise: float = 0.0, titles: list[str] | None = None) -> str:
    """Render blocks. ``style``: "p" (semantic tags), "div" (every block a classless-looking div), "br" (text
    separated by <br>, old CMS), "wrapped" (page-builder wrapper divs). With ``noise`` > 0, inline ads, "Read more"
    links, figures and newsletter boxes appear between blocks with that probability."""
    out = []
    titles = titles or []
    dcls = _hashcls(rng)
    for i, b in enumerate(blocks):
        if noise and site is not None and 0 < i < len(blocks) - 1 and rng.random() < noise:
            out.append(_inline_noise(site, rng, titles))
        if b.kind in ("h2", "h3"):
            h = esc(b.parts[0])
            if style == "div":
                out.append(f'<div class="{dcls}-h" role="heading" aria-level="2">{h}</div>')
            elif style == "br":
                out.append(f"<b>{h}</b><br><br>")
            else:
                out.append(f'<{b.kind} id="{_slug(b.parts[0])}">{h}</{b.kind}>')
            continue
        if b.kind in ("ul", "ol"):
            items = "".join(f"<li>{_link_words(rng, x)}</li>" for x in b.parts)
            out.append(f"<{b.kind}>{items}</{b.kind}>")
            continue
        text = _link_words(rng, b.parts[0])
        if b.kind == "quote":
            out.append(f"<blockquote><p>{text}</p></blockquote>")
        elif style == "div":
            out.append(f'<div class="{dcls}">{text}</div>')
        elif style == "br":
            out.append(f"{text}<br><br>")
        elif style == "wrapped":
            w = rng.choice(("wp-block-group", "elementor-widget-container", "rich-text", "paragraph-wrapper"))
            out.append(f'<div class="{w}"><div class="{w}__inner"><p>{text}</p></div></div>')
        else:
            out.append(f"<p>{text}</p>")
    return "".join(out)


def _byline(site: Site, rng: random.Random, author: str) -> str:
    return (f'<div class="byline"><span class="author">By <a href="/author/{_slug(author)}">{esc(author)}</a></span> '
            f'<time datetime="{site.year}-01-01">{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {site.year}</time> '
            f'<span class="reading-time">{rng.randint(2, 14)} min read</span></div>')


def render_layout(site: Site, title: str, content_html: str, rng: random.Random, *, titles: Sequence[str] = (),
                  pool: Sequence[str] = (), avoid: Sequence[str] = (), headings: Sequence[str] = (),
                  ld_text: str = "") -> str:
    """Wrap ``content_html`` (the article's main text, already HTML) in a page of one of :data:`EXTRA_LAYOUTS`.

    ``titles`` name other pages (related links, menus); ``pool`` holds prose paragraphs for the hard negatives
    (related-article teasers, comments), never ones in ``avoid`` (the page's own text); ``headings`` feed the
    table of contents. All randomness comes from ``rng``.
    """
    titles = list(titles) or [f"{rng.choice(_ADJ).title()} {rng.choice(_NOUN)}" for _ in range(8)]
    avoid_set = set(avoid)
    if not pool:
        from .prose import all_paragraphs

        pool = all_paragraphs()
    author = _person(rng)
    head = (f'<meta charset="utf-8"><title>{esc(title)} | {esc(site.name)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"{_inline_assets(site, rng, title, ld_text)}")
    cookie = _cookie(site, rng) if rng.random() < 0.7 else ""
    lay = site.layout
    logo = f'<a class="logo" href="/">{esc(site.name)}</a>'
    if lay == "magazine":
        issue = _links(rng, rng.sample(titles, min(len(titles), 6)), "issue-list")
        body = (f'{cookie}<header class="masthead">{logo}{_mega_nav(site, rng)}</header>'
                '<div class="page-wrap"><div class="col-left"><h3>In this issue</h3>' + issue + "</div>"
                f'<div class="col-main"><div class="post-header"><h1 class="entry-title">{esc(title)}</h1>'
                f"{_byline(site, rng, author)}</div>{_share_bar(rng)}"
                f'<div class="entry-content">{content_html}</div>'
                f'<div class="post-tags">Tags: {", ".join(f"<a href=/tag/{_slug(t)}>{esc(t.split()[0])}</a>" for t in titles[:4])}</div>'
                f"{_author_box(site, rng, author)}{_related(rng, titles, pool, avoid_set)}</div>"
                f'<div class="col-right">{_sidebar(site, rng, titles)}{_popular(rng, titles)}</div></div>'
                f"{_big_footer(site, rng)}")
    elif lay == "comments":
        body = (f'<header class="site-header">{logo}{_mega_nav(site, rng)}</header>{cookie}'
                f'<div class="site-content"><main id="main" class="site-main"><article class="post type-post">'
                f'<header class="entry-header"><h1 class="entry-title">{esc(title)}</h1>{_byline(site, rng, author)}'
                f'</header><div class="entry-content">{content_html}</div>'
                f'<footer class="entry-footer">{_share_bar(rng)}</footer></article>'
                f'<nav class="post-navigation"><a href="/prev">Previous post: {esc(rng.choice(titles))}</a> '
                f'<a href="/next">Next post: {esc(rng.choice(titles))}</a></nav>'
                f"{_comments(rng, pool, avoid_set)}</main>"
                f'<aside class="widget-area">{_sidebar(site, rng, titles)}</aside></div>{_big_footer(site, rng)}')
    elif lay == "docs_toc":
        pages = [f"{rng.choice(_ADJ).title()} {rng.choice(_NOUN)}" for _ in range(rng.randint(15, 45))]
        side = _links(rng, pages, "toctree")
        local = _toc(list(headings), rng) if headings else ""
        crumbs = (f'<div role="navigation" aria-label="breadcrumbs"><a href="/">Docs</a> &raquo; '
                  f'<a href="/{site.section}">{esc(site.section.title())}</a> &raquo; {esc(title)} '
                  '<a class="edit" href="/edit">Edit on GitHub</a></div>')
        body = (f'<div class="wy-grid"><nav class="wy-nav-side"><div class="search">'
                f'<input type="search" placeholder="Search docs"></div>{side}</nav>'
                f'<section class="wy-nav-content-wrap"><nav class="wy-nav-top">{logo}</nav>{crumbs}'
                f'<div role="main" class="document"><div class="section"><h1>{esc(title)}</h1>{local}'
                f"{content_html}</div></div>"
                '<div class="rst-footer-buttons"><a class="btn" href="/prev">Previous</a>'
                '<a class="btn" href="/next">Next</a></div>'
                '<div class="feedback">Was this page helpful? <button>Yes</button><button>No</button></div>'
                f'<footer><p>&copy; Copyright {site.year}, {esc(site.name)} contributors. '
                "Built with Sphinx using a theme provided by Read the Docs.</p></footer></section></div>")
    elif lay == "table_grid":
        top = " | ".join(f'<a href="/{_slug(n)}">{esc(n)}</a>' for n in site.nav)
        left = "<br>".join(f'<a href="/{_slug(t)}">{esc(t)}</a>' for t in titles)
        body = (f'<table width="100%" border="0" cellpadding="4"><tr><td colspan="2" bgcolor="#336699">'
                f'<font size="5" color="white">{esc(site.name)}</font><br>{top}</td></tr>'
                f'<tr><td width="180" valign="top" bgcolor="#eeeeee"><b>Links</b><br>{left}</td>'
                f'<td valign="top"><h1>{esc(title)}</h1><font size="2">Posted by {esc(author)}</font><br><br>'
                f"{content_html}</td></tr>"
                f'<tr><td colspan="2" align="center"><font size="1">{_links(rng, rng.sample(_FOOTER_LINKS, 4))}'
                f"Copyright &copy; {site.year} {esc(site.name)}. All rights reserved.</font></td></tr></table>")
    elif lay == "div_soup":
        def c() -> str:
            return _hashcls(rng)
        nav = "".join(f'<div class="{c()}"><a class="{c()}" href="/{_slug(n)}">{esc(n)}</a></div>' for n in site.nav)
        cards = "".join(f'<div class="{c()}"><a href="/{_slug(t)}"><div class="{c()}">{esc(t)}</div></a>'
                        f'<div class="{c()}">{esc(_teaser(rng, pool, avoid_set))}</div></div>'
                        for t in rng.sample(titles, min(len(titles), 4)))
        foot = "".join(f'<div class="{c()}"><a href="/{_slug(x)}">{esc(x)}</a></div>'
                       for x in rng.sample(_FOOTER_LINKS, 5))
        body = (f'<div id="__next"><div class="{c()}"><div class="{c()}">{logo}<div class="{c()}">{nav}</div></div>'
                f'{cookie}<div class="{c()}"><div class="{c()}"><h1 class="{c()}">{esc(title)}</h1>'
                f'<div class="{c()}">{esc(author)} · {rng.randint(2, 14)} min read</div>'
                f'<div class="{c()}"><div class="{c()}">{content_html}</div></div></div>'
                f'<div class="{c()}"><div class="{c()}">More from {esc(site.name)}</div>{cards}</div></div>'
                f'<div class="{c()}">{foot}<div class="{c()}">&copy; {site.year} {esc(site.name)}</div></div>'
                "</div></div>")
    elif lay == "short":
        specs = "".join(f"<dt>{esc(k)}</dt><dd>{rng.randint(1, 500)} {u}</dd>" for k, u in
                        rng.sample((("Weight", "g"), ("Width", "mm"), ("Height", "mm"), ("Price", "USD"),
                                    ("Stock", "units"), ("Rating", "reviews")), 3))
        body = (f'{cookie}<header class="site-header">{logo}{_mega_nav(site, rng)}</header>'
                f'<main class="product-page"><nav class="breadcrumbs"><a href="/">Home</a> / '
                f'<a href="/{site.section}">{esc(site.section.title())}</a></nav><div class="product">'
                f'<h1>{esc(title)}</h1><div class="description">{content_html}</div>'
                f'<dl class="specs">{specs}</dl><button class="add-to-cart">Add to cart</button>'
                f"{_share_bar(rng)}</div>{_related(rng, titles, pool, avoid_set, 'also-viewed')}</main>"
                f"{_popular(rng, titles)}{_big_footer(site, rng)}")
    elif lay == "portal":
        topbar = (f'<div class="topbar"><span>{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {site.year}</span> '
                  '<a href="/login">Log in</a> <a href="/subscribe">Subscribe</a></div>')
        body = (f'{topbar}<header class="site-header">{logo}{_mega_nav(site, rng)}</header>'
                f'<main><nav class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/{site.section}">'
                f'{esc(site.section.title())}</a></nav><article class="story"><h1>{esc(title)}</h1>'
                f'{_byline(site, rng, author)}{_share_bar(rng)}<div class="story-body">{content_html}</div>'
                f"{_author_box(site, rng, author) if rng.random() < 0.6 else ''}</article>"
                f"{_related(rng, titles, pool, avoid_set)}{_comments(rng, pool, avoid_set, 'div')}</main>"
                f'<aside class="rail">{_popular(rng, titles)}{_sidebar(site, rng, titles)}</aside>'
                f"{_big_footer(site, rng)}{cookie}")
    elif lay == "wiki":
        rows = "".join(f"<tr><th>{esc(rng.choice(_NOUN).title())}</th><td>{rng.randint(1, 9999)}</td></tr>"
                       for _ in range(rng.randint(3, 8)))
        refs = "".join(f'<li id="cite-{i}"><span class="reference-text">{esc(_person(rng))} ({rng.randint(1990, 2024)}). '
                       f'"{esc(rng.choice(titles))}". <i>{esc(rng.choice(_NOUN).title())} Journal</i>. '
                       f"{rng.randint(1, 40)} ({rng.randint(1, 12)}): {rng.randint(1, 300)}.</span></li>"
                       for i in range(rng.randint(2, 9)))
        see = _links(rng, rng.sample(titles, min(len(titles), 4)))
        panel = _links(rng, ("Main page", "Contents", "Current events", "Random article", "About", "Contact us",
                             "Help", "Recent changes", "Upload file", "Special pages"))
        cats = " | ".join(f'<a href="/cat/{_slug(t)}">{esc(t)}</a>' for t in rng.sample(titles, min(len(titles), 3)))
        body = (f'<div id="mw-page-base"></div><div id="mw-head">{logo}<div id="p-search">'
                '<input type="search" placeholder="Search"></div></div>'
                f'<div id="content" class="mw-body"><h1 id="firstHeading">{esc(title)}</h1>'
                '<div id="bodyContent"><div id="siteSub">From the free encyclopedia</div>'
                f'<div class="mw-parser-output"><table class="infobox">{rows}</table>'
                f'{_toc(list(headings), rng) if headings else ""}{content_html}'
                f'<h2><span class="mw-headline" id="See_also">See also</span></h2>{see}'
                f'<h2><span class="mw-headline" id="References">References</span></h2>'
                f'<ol class="references">{refs}</ol></div>'
                f'<div id="catlinks">Categories: {cats}</div></div></div>'
                f'<div id="mw-panel">{panel}</div>'
                f'<div id="footer"><p>This page was last edited on {rng.randint(1, 28)} {rng.choice(_MONTHS)} '
                f"{site.year}. Text is available under the Creative Commons Attribution-ShareAlike License; "
                "additional terms may apply.</p></div>")
    else:
        raise ValueError(f"unknown layout {lay!r}; known: {ALL_LAYOUTS}")
    tail = f"<script>{esc('window.ads=[];')}</script>" if rng.random() < 0.5 else ""
    return (f'<!DOCTYPE html><html lang="{site.lang}"><head>{head}</head>'
            f'<body class="{lay} {_hashcls(rng, "page-")}">{body}{tail}</body></html>')
