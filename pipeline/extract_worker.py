"""The extraction child process (`python -m pipeline.extract_worker`): reads (html, charset, extractor) messages on
stdin, answers ("ok", text) or ("error", (message, reason)) on stdout. Its parent kills it at the time limit."""
from __future__ import annotations

import os
import resource
import sys


def main() -> None:
    mb = int(os.environ.get("ASSAY_EXTRACT_MEMORY_MB", "4096"))
    resource.setrlimit(resource.RLIMIT_AS, (mb * 1024 * 1024, mb * 1024 * 1024))
    from pipeline.extract import ExtractionError, extract, recv_msg, send_msg

    fin, fout = sys.stdin.fileno(), sys.stdout.fileno()
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    while True:
        try:
            body, charset, extractor = recv_msg(fin)
        except EOFError:
            return
        try:
            send_msg(fout, ("ok", extract(body, charset, extractor)))
        except ExtractionError as e:
            send_msg(fout, ("error", (str(e), e.reason)))


if __name__ == "__main__":
    main()
