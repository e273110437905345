"""GloVe 6B 50d (400k words) -> embedding matrix for the SST-2 training vocabulary:
lstm_zoo.embeddings.load_embeddings beside gensim's KeyedVectors.load_word2vec_format, each in
its own process (wall seconds and peak resident memory).

    python benchmarks/embedding_reader_speed.py   (needs `pip install gensim` for the peer)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

READERS = ("lstm_zoo", "gensim")


def _vocabulary():
    from lstm_zoo.data import dataset_path
    from lstm_zoo.data.classification import build_vocabulary, read_label_text_lines

    texts, _ = read_label_text_lines(dataset_path("sst2", "stsa.binary.train"))
    return build_vocabulary(texts), dataset_path("glove", "glove.6B.50d.txt.gz")


def run_one(reader):
    vocabulary, path = _vocabulary()
    start = time.perf_counter()
    if reader == "lstm_zoo":
        from lstm_zoo.embeddings import load_embeddings

        matrix, report = load_embeddings(path, vocabulary, reserved=2)
        found = report.found
    else:
        import numpy as np
        from gensim.models import KeyedVectors

        vectors = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
        matrix = np.zeros((len(vocabulary), vectors.vector_size), "float32")
        found = 0
        for i, word in enumerate(vocabulary[2:], start=2):
            if word in vectors.key_to_index:
                matrix[i] = vectors[word]
                found += 1
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"reader": reader, "seconds": seconds, "peak_mb": peak_mb, "found": found}))


def main():
    rows = []
    for reader in READERS:
        result = subprocess.run(
            [sys.executable, __file__, "--one", reader], capture_output=True, text=True
        )
        if result.returncode != 0:
            print(f"{reader}: failed ({result.stderr.strip().splitlines()[-1]})")
            continue
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    base = next((r for r in rows if r["reader"] == "gensim"), None)
    print("| reader | seconds | peak RSS MB | vocabulary words found | speed vs gensim |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{base['seconds'] / r['seconds']:.2f}x" if base else "-"
        cells = [r["reader"], f"{r['seconds']:.1f}", f"{r['peak_mb']:.0f}", f"{r['found']:,}"]
        print("| " + " | ".join(cells + [ratio]) + " |")
    os.makedirs("benchmarks/out", exist_ok=True)
    with open("benchmarks/out/embedding_reader_speed.json", "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        run_one(sys.argv[2])
    else:
        main()
