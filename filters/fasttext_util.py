"""fastText native quirks: checked model loading, and zeroed memory for training.

Loading: a missing, foreign, truncated or corrupt ``.bin`` file gives a clear error naming it.

fastText's own loader says ``"X has wrong file format!"`` for foreign files, ``"vector::_M_default_append"`` for some
corrupt ones, and silently loads a TRUNCATED file (the matrices are read short, so predictions are garbage).
:func:`check_model_file` reads the layout that ``FastText::saveModel`` writes and checks it against the file size
before fastText sees the file:

    int32 magic (793712314), int32 version (<= 12)
    Args: 12 x int32 (dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn, lrUpdateRate),
          float64 t
    Dictionary: int32 size, int32 nwords, int32 nlabels, int64 ntokens, int64 pruneidx_size,
                size x (word bytes, NUL, int64 count, int8 type), pruneidx_size x (int32, int32)
    bool quant_input, input matrix  (dense: int64 m, int64 n, m*n float32)
    bool qout,        output matrix (dense: int64 m, int64 n, m*n float32)

For the usual dense supervised model (``train_supervised`` then ``save_model``) the check is O(1): the output
matrix (``nlabels x dim``) and the input matrix (``(nwords + bucket) x dim``) must end exactly at the end of the
file. Otherwise the dictionary is walked (one pass over the words) to find the matrices; quantized matrices
(``.ftz``) are not size-checked (only the header and the dictionary are).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FASTTEXT_MAGIC = 793712314
FASTTEXT_MAX_VERSION = 12
_ARGS = struct.Struct("<12id")          # 12 int32 + float64 t
_DICT_HEAD = struct.Struct("<iiiqq")     # size, nwords, nlabels, ntokens, pruneidx_size
_MAT_HEAD = struct.Struct("<qq")         # m, n
_ARG_NAMES = ("dim", "ws", "epoch", "minCount", "neg", "wordNgrams", "loss", "model", "bucket", "minn", "maxn",
              "lrUpdateRate")
_SUPERVISED = 3                          # fastText model_name::sup


def _bad(path: Path, what: str) -> ValueError:
    return ValueError(f"fastText model {path}: {what} (corrupt, truncated or not a fastText .bin file)")


def check_model_file(path: str | Path, *, supervised: bool = True) -> dict[str, Any]:
    """Validate a fastText model file without loading it; return its header (args, word/label counts, sizes).

    Raises ``FileNotFoundError`` (missing) or ``ValueError`` (anything else wrong), each naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fastText model not found: {path}")
    size = path.stat().st_size
    head_len = 8 + _ARGS.size + _DICT_HEAD.size
    if size < head_len:
        raise _bad(path, f"{size} bytes, shorter than a fastText header ({head_len} bytes)")
    with open(path, "rb") as fh:
        head = fh.read(head_len)
    magic, version = struct.unpack_from("<ii", head, 0)
    if magic != FASTTEXT_MAGIC:
        raise _bad(path, f"bad magic number {magic:#x}")
    if not 0 < version <= FASTTEXT_MAX_VERSION:
        raise _bad(path, f"unsupported format version {version}")
    vals = _ARGS.unpack_from(head, 8)
    args = dict(zip(_ARG_NAMES, vals[:12]))
    dsize, nwords, nlabels, ntokens, npruned = _DICT_HEAD.unpack_from(head, 8 + _ARGS.size)
    dim = args["dim"]
    if not (0 < dim <= 1 << 16 and 0 <= nwords and 0 <= nlabels and dsize == nwords + nlabels and npruned >= -1
            and args["bucket"] >= 0):
        raise _bad(path, f"implausible header (dim={dim}, words={nwords}, labels={nlabels}, size={dsize})")
    if supervised and (args["model"] != _SUPERVISED or nlabels < 1):
        raise ValueError(f"fastText model {path}: not a supervised classifier (model={args['model']}, "
                         f"labels={nlabels})")
    info = {"path": str(path), "bytes": size, "version": version, "args": args, "words": nwords,
            "labels": nlabels, "tokens": ntokens}
    out_block = 1 + _MAT_HEAD.size + 4 * nlabels * dim
    in_block = 1 + _MAT_HEAD.size + 4 * (nwords + args["bucket"]) * dim
    dict_end = size - out_block - in_block
    if npruned <= 0 and dict_end > head_len and _dense_at(path, dict_end, nwords + args["bucket"], dim) \
            and _dense_at(path, size - out_block, nlabels, dim):
        return {**info, "quantized": False}
    return {**info, **_walk(path, size, head_len, dsize, npruned, dim)}


def _dense_at(path: Path, pos: int, m: int, n: int) -> bool:
    """True if a non-quantized flag and a dense ``m x n`` matrix header sit at ``pos``."""
    with open(path, "rb") as fh:
        fh.seek(pos)
        raw = fh.read(1 + _MAT_HEAD.size)
    return len(raw) == 1 + _MAT_HEAD.size and raw[0] == 0 and _MAT_HEAD.unpack_from(raw, 1) == (m, n)


def _walk(path: Path, size: int, pos: int, dsize: int, npruned: int, dim: int) -> dict[str, Any]:
    """Walk the dictionary, then check each dense matrix header and the file's end."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        find = buf.find
        for i in range(dsize):
            nul = find(b"\0", pos)
            if nul < 0 or nul + 10 > size:
                raise _bad(path, f"dictionary ends early (entry {i} of {dsize})")
            pos = nul + 10                      # NUL, int64 count, int8 type
        pos += 8 * max(npruned, 0)
        quantized = False
        for name in ("input", "output"):
            if pos + 1 > size:
                raise _bad(path, f"file ends before the {name} matrix")
            flag = buf[pos]
            if flag not in (0, 1):
                raise _bad(path, f"bad {name}-matrix flag {flag}")
            if flag == 1:                       # quantized (.ftz): layout not checked further
                return {"quantized": True}
            if pos + 1 + _MAT_HEAD.size > size:
                raise _bad(path, f"file ends inside the {name}-matrix header")
            m, n = _MAT_HEAD.unpack_from(buf, pos + 1)
            if n != dim or m < 0:
                raise _bad(path, f"{name} matrix is {m} x {n}, expected dim {dim}")
            pos += 1 + _MAT_HEAD.size + 4 * m * n
        if pos != size:
            raise _bad(path, f"expected {pos} bytes from the header, file has {size}")
        return {"quantized": quantized}


def load_model(path: str | Path, *, supervised: bool = True):
    """``check_model_file``, then ``fasttext.load_model`` with its errors re-raised naming the file."""
    check_model_file(path, supervised=supervised)
    import fasttext

    try:
        return fasttext.load_model(str(path))
    except (ValueError, RuntimeError, MemoryError) as e:
        raise ValueError(f"fastText model {path}: fastText could not load it ({e})") from e


# ---------------------------------------------------------------------------------------------------- training
# Why training "intermittently" raises ``RuntimeError: Encountered NaN`` (fasttext-numpy2 0.10.4, fasttext 0.9.x):
# ``DenseMatrix::uniform`` initialises the input matrix in 10 fixed blocks, one per thread, so with thread < 10 only
# the first thread/10 of the rows get their random values (facebookresearch/fastText#1061); the rest keep whatever
# the allocator returned. Fresh pages are zero (harmless: a fresh process trains fine), but memory reused from an
# earlier model in the same process holds garbage, sometimes huge or NaN floats, and the first dot product with
# such a row raises. Measured here: 8 of 16 trainings in one process hit NaN; with allocations zeroed, 0 of 16, and
# every model was bit-identical to the one the same seed gives in a fresh process (thread=1).
# The fix: glibc's M_PERTURB option makes malloc fill new blocks with ``perturb ^ 0xff`` = 0 for perturb 0xff,
# switched on only while fastText trains. Elsewhere (no glibc mallopt) it is a no-op and the NaN retry remains.
_M_PERTURB = -6
_perturb_lock = threading.Lock()
_perturb_users = 0


def _mallopt():
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def zeroed_allocations() -> Iterator[bool]:
    """While active, glibc ``malloc`` returns zero-filled memory (yields whether it could be switched on)."""
    global _perturb_users
    fn = _mallopt()
    with _perturb_lock:
        active = fn is not None and (_perturb_users > 0 or fn(_M_PERTURB, 0xFF) == 1)
        if active:
            _perturb_users += 1
    try:
        yield active
    finally:
        if active:
            with _perturb_lock:
                _perturb_users -= 1
                if _perturb_users == 0:
                    fn(_M_PERTURB, 0)
