"""The text side of SG-VS: one short text per video, a sentence encoder that runs offline, a cache.

Texts (:func:`video_texts`), from what the benchmark data has:

* SumMe: the video's name (``Air_Force_One`` -> ``Air Force One``), from the shipped annotations;
* TVSum: the category's query (``VT`` -> ``changing vehicle tire``), the text the TVSum videos
  were collected with (YouTube search queries), from ``annotations.TVSUM_CATEGORIES``;
* a user's titles, when given (``titles`` / :func:`read_titles`, a JSON map key -> title),
  replace the above per video (e.g. the real YouTube titles of TVSum).

Encoders (:func:`get_encoder`), each ``encode(list[str]) -> (n, dim) float32`` unit rows:

``wordllama``  WordLlama ``l2_supercat`` 256-d static token embeddings (distilled from
               Llama-2-70B's token embeddings), mean-pooled over the tokens and L2-normalised --
               exactly what ``wordllama``'s own ``embed(norm=True)`` computes. Both files (weights
               ``weights/l2_supercat_256.safetensors``, tokenizer
               ``tokenizers/l2_supercat_tokenizer_config.json``) ship inside the PyPI package
               ``wordllama``; they are read from there directly, never downloaded (the package's
               own ``WordLlama.load`` looks for the tokenizer in a misnamed folder and would go
               to the network, and importing ``wordllama.inference`` reconfigures the root
               logger, so neither is used; the package is located with ``find_spec``, not imported).
``hashed``     deterministic fallback with no model: signed feature hashing of the lower-cased
               character 3-, 4- and 5-grams of `` text `` (blake2b, so stable across processes
               and machines) into ``dim`` buckets, L2-normalised. Captures spelling overlap, not
               meaning; used by fast tests and when ``wordllama`` is not installed.
a ``.npz``     path: precomputed per-video vectors (array per video key), e.g. CLIP text
               embeddings that match CLIP visual features (SG-VS ``similarity='direct'``).

Cache (:func:`text_vectors`): each encoded text is stored as
``<cache_dir>/<encoder name>/<sha256 of the text>.npy`` (atomic write), so a video is encoded
once per encoder and text, and a changed title gets a new entry. ``cache_dir`` defaults to
``$VIDSUM_CACHE_DIR/text`` or ``~/.cache/vidsum/text``; ``cache_dir=False`` disables it. A cache
folder that cannot be written only costs a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
import importlib.util
from pathlib import Path
from typing import Protocol

import numpy as np

from vidsum.data import annotations

ENCODERS = ("wordllama", "hashed")
WORDLLAMA_WEIGHTS = "weights/l2_supercat_256.safetensors"
WORDLLAMA_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"


class TextEncoder(Protocol):
    """name: identifies the encoder and its weights (cache key); dim: output width."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:  # (n, dim) float32, unit rows
        ...


# --------------------------------------------------------------------------- texts


def _check_dataset(dataset: str) -> None:
    if dataset not in annotations.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(annotations.DATASETS)}")


def annotation_text(dataset: str, annotation: annotations.VideoAnnotation) -> str:
    """The default text of one video: SumMe name (underscores as spaces) or TVSum category query."""
    _check_dataset(dataset)
    if dataset == "tvsum":
        if annotation.category not in annotations.TVSUM_CATEGORIES:
            raise KeyError(f"{annotation.key}: unknown TVSum category {annotation.category!r}")
        return annotations.TVSUM_CATEGORIES[annotation.category]
    return " ".join(annotation.name.replace("_", " ").split())


def video_texts(dataset: str, keys: Iterable[str], titles: Mapping[str, str] | None = None) -> dict[str, str]:
    """{key: text} for ``keys`` of ``dataset``; ``titles`` (key -> text) override per video."""
    _check_dataset(dataset)
    titles = dict(titles or {})
    ann = annotations.by_key(dataset)
    out: dict[str, str] = {}
    unknown = []
    for key in keys:
        if key in titles:
            text = titles[key]
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"title of {key} must be a non-empty string, got {text!r}")
            out[key] = text.strip()
        elif key in ann:
            out[key] = annotation_text(dataset, ann[key])
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"no {dataset} annotation or title for video key(s) {', '.join(unknown[:5])}")
    return out


def read_titles(path: str | os.PathLike) -> dict[str, str]:
    """A user's titles: a JSON object mapping video key -> title."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"titles file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in doc.items()):
        raise ValueError(f"{path}: expected a JSON object of video key -> non-empty title string")
    return dict(doc)


# --------------------------------------------------------------------------- encoders


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


def _check_texts(texts: list[str]) -> None:
    if isinstance(texts, str) or not isinstance(texts, list):
        raise ValueError(f"texts must be a list of strings, got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"texts[{bad[0]}] is empty or not a string ({len(bad)} bad in all)")


class WordLlamaEncoder:
    """WordLlama l2_supercat (256-d) read from the files inside the installed ``wordllama`` package."""

    name = "wordllama-l2_supercat-256"
    dim = 256

    def __init__(self) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ImportError(f"the wordllama text encoder needs the 'wordllama' package (pip install wordllama): {e}") from None
        # find_spec locates the package without running its __init__ (which configures the root logger)
        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the wordllama text encoder needs the 'wordllama' package (pip install wordllama)")
        root = Path(list(spec.submodule_search_locations)[0])
        weights, tokenizer = root / WORDLLAMA_WEIGHTS, root / WORDLLAMA_TOKENIZER
        for f in (weights, tokenizer):
            if not f.is_file():
                raise FileNotFoundError(f"the installed wordllama package has no {f}; expected it to ship its weights")
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.embedding = load_file(str(weights))["embedding.weight"].astype(np.float32)  # (vocab, 256)
        if self.embedding.shape[1] != self.dim:
            raise ValueError(f"wordllama embedding has width {self.embedding.shape[1]}, expected {self.dim}")

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, 256) float32 unit rows: mean of the texts' token embeddings, normalised."""
        _check_texts(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, enc in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = np.clip(np.asarray(enc.ids, dtype=np.int64), 0, self.embedding.shape[0] - 1)
            if ids.size == 0:
                raise ValueError(f"texts[{i}] {texts[i]!r} has no tokens")
            out[i] = self.embedding[ids].mean(0)
        return _unit_rows(out)


class HashedNgramEncoder:
    """Deterministic signed hashing of character 3..5-grams into ``dim`` buckets (no model)."""

    def __init__(self, dim: int = 256, ngram_sizes: tuple[int, ...] = (3, 4, 5)):
        if int(dim) != dim or dim < 8:
            raise ValueError(f"hashed encoder dim must be an integer >= 8, got {dim!r}")
        self.dim = int(dim)
        self.ngram_sizes = tuple(ngram_sizes)
        self.name = f"hashed-ngram{''.join(map(str, self.ngram_sizes))}-{self.dim}-v1"

    def _vector(self, text: str) -> np.ndarray:
        padded = f" {' '.join(text.lower().split())} "
        v = np.zeros(self.dim, dtype=np.float64)
        for n in self.ngram_sizes:
            for i in range(len(padded) - n + 1):
                digest = hashlib.blake2b(padded[i : i + n].encode("utf-8"), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                # low bits pick the bucket, the top bit the sign (keeps collisions unbiased)
                v[h % self.dim] += 1.0 if h >> 63 else -1.0
        return v

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32 unit rows."""
        _check_texts(texts)
        return _unit_rows(np.stack([self._vector(t) for t in texts]))


@lru_cache(maxsize=4)
def get_encoder(name: str) -> TextEncoder:
    """The encoder called ``name`` (one of :data:`ENCODERS`), loaded once per process."""
    if name == "wordllama":
        return WordLlamaEncoder()
    if name == "hashed":
        return HashedNgramEncoder()
    raise ValueError(f"unknown text encoder {name!r}; expected one of {', '.join(ENCODERS)} or a .npz path")


# --------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    root = os.environ.get("VIDSUM_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "vidsum") / "text"


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_cached(texts: Mapping[str, str], encoder: TextEncoder,
                  cache_dir: str | os.PathLike | None | bool = None) -> dict[str, np.ndarray]:
    """{key: (encoder.dim,) float32} for {key: text}, reading and filling the on-disk cache."""
    if cache_dir is False:
        folder = None
    else:
        folder = (default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)) / encoder.name
    vectors: dict[str, np.ndarray] = {}
    todo: dict[str, str] = {}  # text -> cache file name
    for text in set(texts.values()):
        path = None if folder is None else folder / f"{_text_digest(text)}.npy"
        if path is not None and path.is_file():
            v = np.load(path)
            if v.shape == (encoder.dim,) and np.all(np.isfinite(v)):
                vectors[text] = v.astype(np.float32)
                continue
        todo[text] = "" if path is None else str(path)
    if todo:
        order = sorted(todo)
        for text, v in zip(order, encoder.encode(order)):
            vectors[text] = v
            if todo[text]:
                try:
                    _save_npy(Path(todo[text]), v)
                except OSError as e:
                    print(f"warning: text cache not written ({e}); continuing without it", file=sys.stderr)
    return {key: vectors[text] for key, text in texts.items()}


def read_text_vectors(path: str | os.PathLike, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """Precomputed per-video text vectors: an ``.npz`` with one (dim,) array per video key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text vector file not found: {path}")
    keys = list(keys)
    with np.load(path) as z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise KeyError(f"{path}: no text vector for video key(s) {', '.join(missing[:5])}")
        out = {k: np.asarray(z[k], dtype=np.float32) for k in keys}
    dims = {v.shape for v in out.values()}
    if len(dims) > 1 or any(len(s) != 1 for s in dims):
        raise ValueError(f"{path}: text vectors must all be 1-d of one width, got shapes {sorted(dims)}")
    if any(not np.all(np.isfinite(v)) or not np.any(v) for v in out.values()):
        raise ValueError(f"{path}: text vectors must be finite and non-zero")
    return out


def text_vectors(dataset: str, keys: Iterable[str], encoder: str = "wordllama",
                 titles: Mapping[str, str] | None = None,
                 cache_dir: str | os.PathLike | None | bool = None) -> dict[str, np.ndarray]:
    """{key: (dim,) float32} text vector of each video.

    encoder: a name in :data:`ENCODERS` (texts from :func:`video_texts`, cached) or a path to a
    ``.npz`` of precomputed vectors (read as they are; ``titles`` then unused).
    """
    keys = list(keys)
    if not keys:
        raise ValueError("text_vectors: no video keys given")
    if encoder.endswith(".npz"):
        return read_text_vectors(encoder, keys)
    return encode_cached(video_texts(dataset, keys, titles), get_encoder(encoder), cache_dir)
