"""The plain-script reference for `assay classifier score`: read Parquet shards, normalise and `predict` one document
at a time with fastText, write each shard back with a quality_score column. One process.

    python benchmarks/classify_loop.py MODEL.bin IN_DIR OUT_DIR
"""
import sys
from pathlib import Path

import fasttext
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from filters.quality import normalize_for_classifier  # noqa: E402


def main(model_path: str, src: str, dst: str) -> None:
    model = fasttext.load_model(model_path)
    Path(dst).mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(src).glob("*.parquet")):
        t = pq.read_table(f)
        scores = []
        for text in t.column("text").to_pylist():
            labels, probs = model.predict(normalize_for_classifier(text), k=-1)
            scores.append(float(dict(zip(labels, probs)).get("__label__hq", 0.0)))
        pq.write_table(t.append_column("quality_score", pa.array(scores, pa.float32())), Path(dst) / f.name,
                       compression="zstd")


if __name__ == "__main__":
    main(*sys.argv[1:4])
