"""Web-page rendering: a random site (domain, navigation, cookie banner, sidebar, footer) around a page's content.

Everything is drawn from the ``random.Random`` passed in, so a page renders to the same bytes for the same seed.
Four layouts (classic, blog, docs, news) vary the markup the way different CMSs do; the content always sits in
``<main>``/``<article>`` with an ``<h1>``, so main-content extractors (trafilatura, resiliparse) can find it.
"""

from __future__ import annotations

import functools
import html
import random
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


def make_site(rng: random.Random, lang: str = "en") -> Site:
    """Draw a random site for a page in language ``lang``."""
    name, domain = site_domain(rng, lang)
    nav_words = _NAV.get(lang, _NAV["en"])
    nav = tuple(rng.sample(nav_words, rng.randint(4, min(8, len(nav_words)))))
    return Site(name=name, domain=domain, lang=lang, layout=rng.choice(LAYOUTS), nav=nav,
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
