"""What runs in the extraction child (`python -m pipeline.extract_worker`), kept light (no pydantic: a child starts
in ~0.1 s): the extractors, `extract` (one page in this process), the message protocol, and the child's loop.

The child reads (extractor, [(html, charset), ...]) batches on stdin and answers each page as soon as it is done,
("ok", text, cpu_s) or ("error", (message, reason), cpu_s), on stdout (cpu_s: its CPU seconds so far, for the stage's
accounting). Its parent (`pipeline.extract.Extraction`) kills it when a page takes longer than the time limit."""
from __future__ import annotations

import contextlib
import os
import pickle
import resource
import select
import signal
import struct
import sys
import threading
import time

class ExtractionError(RuntimeError):
    """A page could not be extracted; `reason` is its quarantine code."""

    def __init__(self, message: str, reason: str = "extraction_failed"):
        super().__init__(message)
        self.reason = reason


class ExtractionTimeout(ExtractionError):
    def __init__(self, message: str):
        super().__init__(message, "extraction_timeout")


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


# ------------------------------------------------------------------------------------------------- the extractors
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


def _fast(html: str) -> str:
    from pipeline.extract_fast import TooDeep, extract_fast

    try:
        return extract_fast(html, strict_depth=True)
    except TooDeep as e:
        raise ExtractionError(str(e), "extraction_too_deep") from None


EXTRACTORS = {"fast": _fast, "trafilatura": _trafilatura, "resiliparse": _resiliparse}

# ------------------------------------------------------------------------------------------------- in this process
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


def extract(body: bytes | str, charset: str | None = None, extractor: str = "fast",
            timeout_s: float = 0.0) -> str:
    """Extract main text in this process (SIGALRM limit when `timeout_s` > 0)."""
    html = body if isinstance(body, str) else decode_html(body, charset)
    fn = EXTRACTORS[extractor]
    try:
        with time_limit(timeout_s):
            text = fn(html)
    except ExtractionError:  # a timeout, or an extractor's own verdict (fast: too deep)
        raise
    except RecursionError as e:
        raise ExtractionError(f"HTML nested too deeply for {extractor} ({e})", "extraction_too_deep") from None
    except MemoryError:
        raise ExtractionError(f"{extractor} ran out of memory", "extraction_crashed") from None
    except Exception as e:
        raise ExtractionError(f"{extractor} failed: {type(e).__name__}: {e}") from None
    return text.strip()


def send_msg(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def recv_msg(fd: int, deadline: float | None = None):
    """Read one message; TimeoutError past `deadline`, EOFError when the other side is gone."""
    def read(n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise TimeoutError
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    (n,) = struct.unpack("<Q", read(8))
    return pickle.loads(read(n))


# ------------------------------------------------------------------------------------------------- the child
def main() -> None:
    mb = int(os.environ.get("ASSAY_EXTRACT_MEMORY_MB", "4096"))
    resource.setrlimit(resource.RLIMIT_AS, (mb * 1024 * 1024, mb * 1024 * 1024))
    fin, fout = sys.stdin.fileno(), sys.stdout.fileno()
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    while True:
        try:
            extractor, pages = recv_msg(fin)
        except EOFError:
            return
        for body, charset in pages:
            try:
                text = extract(body, charset, extractor)
            except ExtractionError as e:
                send_msg(fout, ("error", (str(e), e.reason), time.process_time()))
            else:
                send_msg(fout, ("ok", text, time.process_time()))


if __name__ == "__main__":
    main()
