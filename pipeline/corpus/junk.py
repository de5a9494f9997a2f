"""Content of the junk pages real crawls carry: boilerplate, SEO spam, lorem ipsum, tables, hash dumps, other languages.

Each ``*_content(rng, ...)`` returns ``(title, content_html)``: the ``<h1>`` title and the escaped HTML placed in
the page's ``<article>``. All randomness comes from the ``random.Random`` argument.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import string

from .pages import esc, paragraphs_html

# ---------------------------------------------------------------------------------------------------- boilerplate

_BOILER = (
    ("Page not found", ["Sorry, the page you are looking for does not exist or has been moved.",
                        "Go back to the homepage"]),
    ("Sign in", ["Sign in to continue", "Email address", "Password", "Forgot your password?",
                 "Create an account"]),
    ("Please enable JavaScript", ["This site requires JavaScript to run.", "Please enable JavaScript in your browser",
                                  "and reload the page."]),
    ("Access denied", ["You don't have permission to access this resource.", "Reference #18.2f4e"]),
    ("Subscribe", ["Subscribe to read the full story", "Already a subscriber? Log in", "Plans from $1 a week",
                   "Cancel anytime"]),
    ("Loading", ["Loading...", "If this page does not load, click here"]),
)


def boilerplate_content(rng: random.Random, titles: list[str]) -> tuple[str, str]:
    """A page with no content of its own: an error/login/JS notice or a bare list of links to other posts."""
    if rng.random() < 0.4 and titles:
        head = rng.choice(("Archive", "Category: General", "Tag: news", "All posts", "Latest"))
        items = "".join(f'<li><a href="/p/{rng.randrange(10**6)}">{esc(rng.choice(titles))}</a> '
                        f'<span>Read more &raquo;</span></li>' for _ in range(rng.randint(4, 12)))
        pager = "".join(f'<a href="?page={i}">{i}</a> ' for i in range(1, rng.randint(3, 9)))
        return head, f'<ul class="post-list">{items}</ul><div class="pager">{pager}Next &raquo;</div>'
    title, lines = rng.choice(_BOILER)
    return title, "".join(f"<p>{esc(x)}</p>" if i == 0 else f"<div>{esc(x)}</div>" for i, x in enumerate(lines))


# ---------------------------------------------------------------------------------------------------- SEO spam

_NICHES = (
    ("car insurance", ("cheap", "best", "online", "quotes", "compare", "instant", "low cost")),
    ("payday loans", ("fast", "online", "no credit check", "same day", "instant", "easy")),
    ("weight loss pills", ("best", "fast", "natural", "cheap", "top rated", "buy")),
    ("casino bonus", ("free", "best", "no deposit", "online", "real money", "top")),
    ("vpn deal", ("best", "cheap", "fast", "secure", "free trial", "top")),
    ("replica watches", ("cheap", "luxury", "buy", "best", "discount", "online")),
    ("plumber", ("emergency", "cheap", "local", "24 hour", "best", "affordable")),
    ("web hosting", ("cheap", "best", "unlimited", "fast", "free domain", "reliable")),
)
_CITIES = ("London", "New York", "Chicago", "Houston", "Phoenix", "Dallas", "Miami", "Boston", "Seattle", "Denver",
           "Atlanta", "Toronto", "Sydney", "Manchester", "Dublin")
_SEO_TEMPLATES = (
    "Looking for {kw}? We offer the {adj} {kw} in {city}.",
    "Our {adj} {kw} is the number one {kw} for {kw} in {city}.",
    "Get {adj} {kw} today, {adj} {kw} {city}, {kw} {city} {adj}.",
    "{Adj} {kw} {city} - {adj} {kw} - {kw} near me.",
    "Buy {kw} now and save, {adj} {kw} deals, {kw} discount, {kw} offers.",
    "Click here for {adj} {kw}!",
    "Why choose our {kw}? Because we are the {adj} {kw} company in {city}.",
)


def seo_spam_content(rng: random.Random) -> tuple[str, str, str]:
    """Keyword stuffing: templated sentences repeating one niche's keywords; returns (title, html, keywords)."""
    kw, adjs = rng.choice(_NICHES)
    city = rng.choice(_CITIES)

    def fill(t: str) -> str:
        adj = rng.choice(adjs)
        return t.format(kw=kw, adj=adj, Adj=adj.title(), city=city)

    pars = [" ".join(fill(rng.choice(_SEO_TEMPLATES)) for _ in range(rng.randint(3, 8)))
            for _ in range(rng.randint(3, 8))]
    related = [f"{rng.choice(adjs)} {kw} {rng.choice(_CITIES).lower()}" for _ in range(rng.randint(8, 20))]
    keywords = ", ".join(sorted({f"{a} {kw}" for a in adjs}))
    title = f"{rng.choice(adjs).title()} {kw.title()} {city} | {rng.choice(adjs).title()} {kw.title()}"
    tags = "".join(f"<li>{esc(r)}</li>" for r in related)
    return title, paragraphs_html(pars) + f"<h2>Related searches</h2><ul>{tags}</ul>", keywords


# ---------------------------------------------------------------------------------------------------- lorem ipsum

LOREM = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore "
         "magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo "
         "consequat duis aute irure in reprehenderit voluptate velit esse cillum eu fugiat nulla pariatur excepteur "
         "sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum").split()


def _lorem_sentence(rng: random.Random) -> str:
    words = [rng.choice(LOREM) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def lorem_ipsum_content(rng: random.Random) -> tuple[str, str]:
    """A template page still carrying its placeholder text."""
    pars = [" ".join(_lorem_sentence(rng) for _ in range(rng.randint(3, 7))) for _ in range(rng.randint(2, 7))]
    pars[0] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + pars[0]
    title = rng.choice(("Lorem ipsum", "Sample page", "Hello world!", "Your title here", "Dolor sit amet"))
    return title, paragraphs_html(pars)


# ---------------------------------------------------------------------------------------------------- tables

_TABLES = (
    ("Daily prices for {sym}", ("Date", "Open", "High", "Low", "Close", "Volume")),
    ("Sensor readings, station {sym}", ("Timestamp", "Temperature", "Humidity", "Pressure", "Wind")),
    ("Inventory report {sym}", ("SKU", "Quantity", "Unit price", "Weight", "Warehouse")),
    ("League table {sym}", ("Team", "Played", "Won", "Drawn", "Lost", "Points")),
)


def _cell(rng: random.Random, col: str, row: int) -> str:
    r = rng.random
    if col in ("Date", "Timestamp"):
        day = f"2023-{1 + int(r() * 12):02d}-{1 + int(r() * 28):02d}"
        return day + (f" {int(r() * 24):02d}:{int(r() * 60):02d}" if col == "Timestamp" else "")
    if col == "SKU":
        return f"{rng.choice(string.ascii_uppercase)}{rng.choice(string.ascii_uppercase)}-{10000 + int(r() * 90000)}"
    if col == "Team":
        return f"Team {row + 1}"
    if col in ("Volume", "Quantity", "Played", "Won", "Drawn", "Lost", "Points"):
        return str(int(r() * 10 ** (1 + int(r() * 7))))
    return f"{r() * 1000:.2f}"


def table_content(rng: random.Random) -> tuple[str, str]:
    """Machine-generated tables of numbers (an HTML table, or CSV in ``<pre>``)."""
    caption, cols = rng.choice(_TABLES)
    title = caption.format(sym="".join(rng.choices(string.ascii_uppercase, k=rng.randint(2, 4))))
    rows = [[_cell(rng, c, r) for c in cols] for r in range(rng.randint(15, 120))]
    if rng.random() < 0.25:
        csv = "\n".join([",".join(cols)] + [",".join(r) for r in rows])
        return title, f"<pre>{esc(csv)}</pre>"
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in r) + "</tr>" for r in rows)
    return title, f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------------------------------------------- hash dumps

_B64 = string.ascii_letters + string.digits + "+/"
_CRYPT = "./" + string.digits + string.ascii_uppercase + string.ascii_lowercase
_ALNUM = string.ascii_letters + string.digits
_USERS = ("admin", "root", "john", "mary", "test", "user", "alex", "sam", "info", "support", "dev", "guest")


def _hash_line(rng: random.Random, style: str) -> str:
    raw = rng.getrandbits(256).to_bytes(32, "big")
    user = f"{rng.choice(_USERS)}{rng.randint(1, 9999)}"
    if style == "md5":
        return f"{user}:{hashlib.md5(raw).hexdigest()}"
    if style == "sha1":
        return hashlib.sha1(raw).hexdigest()
    if style == "sha256":
        return f"{hashlib.sha256(raw).hexdigest()}  file_{rng.randint(1, 999)}.bin"
    if style == "bcrypt":
        return f"{user}@mail.com:$2b$12${''.join(rng.choices(_CRYPT, k=53))}"
    if style == "sha512crypt":
        salt = "".join(rng.choices(_CRYPT, k=rng.randint(8, 16)))
        return f"{user}:$6${salt}${''.join(rng.choices(_CRYPT, k=86))}:19{rng.randint(100, 999)}:0:99999:7:::"
    if style == "base64":
        return base64.b64encode(rng.getrandbits(456).to_bytes(57, "big")).decode()
    # API keys
    return rng.choice((
        f"AWS_ACCESS_KEY_ID=AKIA{''.join(rng.choices(string.ascii_uppercase + string.digits, k=16))}",
        f"STRIPE_KEY=sk_live_{''.join(rng.choices(_ALNUM, k=24))}",
        f"GITHUB_TOKEN=ghp_{''.join(rng.choices(_ALNUM, k=36))}",
        f"SLACK_TOKEN=xoxb-{rng.randint(10**11, 10**12)}-{''.join(rng.choices(_ALNUM, k=24))}",
        f"api_key: {''.join(rng.choices('0123456789abcdef', k=32))}",
    ))


HASH_STYLES = ("md5", "sha1", "sha256", "bcrypt", "sha512crypt", "base64", "apikey")


def hash_dump_content(rng: random.Random) -> tuple[str, str]:
    """A paste of digests, password hashes, base64 blobs and API keys."""
    styles = rng.sample(HASH_STYLES, rng.randint(1, 3))
    lines = [_hash_line(rng, rng.choice(styles)) for _ in range(rng.randint(20, 150))]
    title = rng.choice(("Untitled paste", "dump", "hashes.txt", "leak", "config backup", "db export"))
    title = f"{title} #{rng.getrandbits(32):08x}"
    return title, f"<pre>{esc(chr(10).join(lines))}</pre>"


# ---------------------------------------------------------------------------------------------------- other languages

JUSTEXT_NAMES = {"de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "ru": "Russian",
                 "pt": "Portuguese", "nl": "Dutch", "pl": "Polish"}
# Frequent content words per language (nouns, verbs, adjectives), added to the stop words so pages read as text.
_CONTENT = {
    "de": "Zeit Jahr Menschen Stadt Land Arbeit Haus Welt Leben Frage Beispiel Geschichte Schule Kinder Familie "
          "Wasser Regierung Unternehmen Entwicklung Teil gibt macht sagte kommt geht steht liegt bleibt zeigt "
          "neue große gute wichtige erste letzte deutschen",
    "fr": "temps année monde pays ville travail maison vie enfants famille gouvernement histoire école eau partie "
          "question exemple entreprise développement fait dit peut doit voir prendre donner trouver nouveau grand "
          "premier dernier français important",
    "es": "tiempo año mundo país ciudad trabajo casa vida niños familia gobierno historia escuela agua parte "
          "pregunta ejemplo empresa desarrollo hace dijo puede debe ver tomar dar encontrar nuevo grande primero "
          "último importante español",
    "it": "tempo anno mondo paese città lavoro casa vita bambini famiglia governo storia scuola acqua parte "
          "domanda esempio azienda sviluppo fa disse può deve vedere prendere dare trovare nuovo grande primo "
          "ultimo importante italiano",
    "ru": "время год мир страна город работа дом жизнь дети семья правительство история школа вода часть вопрос "
          "пример компания развитие делает сказал может должен видеть взять дать найти новый большой первый "
          "последний важный русский",
    "pt": "tempo ano mundo país cidade trabalho casa vida crianças família governo história escola água parte "
          "pergunta exemplo empresa desenvolvimento faz disse pode deve ver tomar dar encontrar novo grande",
    "nl": "tijd jaar wereld land stad werk huis leven kinderen familie regering geschiedenis school water deel "
          "vraag voorbeeld bedrijf ontwikkeling maakt zegt kan moet zien nemen geven vinden nieuwe grote",
    "pl": "czas rok świat kraj miasto praca dom życie dzieci rodzina rząd historia szkoła woda część pytanie "
          "przykład firma rozwój robi powiedział może musi widzieć wziąć dać znaleźć nowy duży pierwszy",
}
# Chinese has no justext stop list: frequent words of modern written Chinese.
_ZH = ("的 了 在 是 我们 他们 这个 一个 没有 可以 因为 所以 但是 如果 已经 时候 现在 自己 中国 发展 经济 社会 "
       "工作 问题 政府 国家 人民 企业 市场 技术 文化 教育 历史 生活 城市 世界 学生 学校 研究 重要 主要 进行 "
       "提高 需要 表示 认为 通过 同时 作为 方面 情况 部分 建设 管理 服务 活动 时间 今年 地方 记者 报道").split()


def _is_cyrillic(word: str) -> bool:
    return all("\u0400" <= c <= "\u04ff" for c in word)


@functools.lru_cache(maxsize=None)
def foreign_vocab(lang: str) -> tuple[tuple[str, ...], tuple[float, ...], tuple[str, ...]]:
    """Word lists for ``lang``: (stop words, their cumulative Zipf weights, content words).

    Stop words come from justext (alphabetic, not English), ordered by a permutation seeded with the language
    name (the lists are alphabetical, not by frequency); content words are the language's frequent words above.
    """
    if lang == "zh":
        stop, content = sorted(_ZH[:12]), sorted(_ZH[12:])
    elif lang in JUSTEXT_NAMES:
        import justext  # ships with trafilatura

        english = justext.get_stoplist("English")
        stop = sorted(w for w in justext.get_stoplist(JUSTEXT_NAMES[lang])
                      if w.isalpha() and w not in english and (lang != "ru" or _is_cyrillic(w)))
        if len(stop) > 700:  # long lists (ru, pl) hold many rare words: keep the short ones
            stop = [w for w in stop if len(w) <= 6][:700]
        content = sorted(_CONTENT[lang].split())
    else:
        raise ValueError(f"no word list for language {lang!r}; known: zh, {', '.join(sorted(JUSTEXT_NAMES))}")
    random.Random(f"vocab:{lang}").shuffle(stop)
    total, cum = 0.0, []
    for rank in range(len(stop)):
        total += 1.0 / (rank + 2)
        cum.append(total)
    return tuple(stop), tuple(cum), tuple(content)


def foreign_sentence(rng: random.Random, lang: str) -> str:
    """One sentence of ``lang``: about half Zipf-distributed stop words, half content words."""
    stop, cum, content = foreign_vocab(lang)
    n = rng.randint(6, 16)
    words = [rng.choices(stop, cum_weights=cum)[0] if rng.random() < 0.5 else rng.choice(content) for _ in range(n)]
    if lang == "zh":
        return "".join(words) + rng.choice("。。。！？")
    if rng.random() < 0.3:
        cut = rng.randrange(2, n - 1)
        words[cut - 1] += ","
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice("....!?")


def foreign_content(rng: random.Random, lang: str) -> tuple[str, str]:
    """Several paragraphs of text in ``lang``."""
    pars = [("" if lang == "zh" else " ").join(foreign_sentence(rng, lang) for _ in range(rng.randint(3, 7)))
            for _ in range(rng.randint(3, 8))]
    title = foreign_sentence(rng, lang).rstrip(".!?。！？")
    return title, paragraphs_html(pars)
