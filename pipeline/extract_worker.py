"""The extraction child process (`python -m pipeline.extract_worker`): reads (extractor, [(html, charset), ...])
batches on stdin and answers each page as soon as it is done, ("ok", text) or ("error", (message, reason)), on
stdout. Its parent kills it when a page takes longer than the time limit."""
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
            extractor, pages = recv_msg(fin)
        except EOFError:
            return
        for body, charset in pages:
            try:
                send_msg(fout, ("ok", extract(body, charset, extractor)))
            except ExtractionError as e:
                send_msg(fout, ("error", (str(e), e.reason)))


if __name__ == "__main__":
    main()
