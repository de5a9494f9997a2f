"""HTML to text with a maintained extractor (trafilatura or resiliparse), under a per-document time limit.

`extract(html_bytes, charset)` returns the main text ("" when the page has none). Time-outs raise
`ExtractionTimeout`; other extractor failures raise `ExtractionError`. Callers count both.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Literal

Extractor = Literal["trafilatura", "resiliparse"]


class ExtractionError(RuntimeError):
    pass


class ExtractionTimeout(ExtractionError):
    pass


def decode_html(body: bytes, charset: str | None = None) -> str:
    """Bytes to str: the declared charset if it decodes cleanly, else resiliparse's detection."""
    if charset:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        from resiliparse.parse.encoding import bytes_to_str, detect_encoding

        return bytes_to_str(body, detect_encoding(body))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise ExtractionTimeout in this thread after `seconds` (SIGALRM; main thread only, else no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _timeout(signum, frame):
        raise ExtractionTimeout(f"extraction exceeded {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _trafilatura(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, favor_precision=True, include_comments=False, include_tables=False,
                               deduplicate=False) or ""


def _resiliparse(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    return extract_plain_text(tree, main_content=True, alt_texts=False, links=False, list_bullets=True,
                              noscript=False) or ""


EXTRACTORS = {"trafilatura": _trafilatura, "resiliparse": _resiliparse}


def extract(body: bytes | str, charset: str | None = None, extractor: Extractor = "trafilatura",
            timeout_s: float = 5.0) -> str:
    html = body if isinstance(body, str) else decode_html(body, charset)
    fn = EXTRACTORS[extractor]
    try:
        with time_limit(timeout_s):
            text = fn(html)
    except ExtractionTimeout:
        raise
    except RecursionError as e:
        raise ExtractionError(f"HTML nested too deeply for {extractor} ({e})") from None
    except Exception as e:
        raise ExtractionError(f"{extractor} failed: {type(e).__name__}: {e}") from None
    return text.strip()
