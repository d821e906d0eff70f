"""Text tokenizers that run without torch, configured by the model folder.

Two kinds: "clip_bpe" (CLIP's byte-level BPE from its merges file, lower-cased, with start/end tokens)
and "hf" (a Hugging Face tokenizer.json through the `tokenizers` library).

Both pad every text to the context length, or with `trim=True` only to the longest text of the batch
(for text towers exported with a dynamic sequence axis, which then run a query's own length).
"""

from __future__ import annotations

import gzip
import html
import itertools
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import ftfy
import numpy as np
import regex

from engine.modelfolder import TokenizerConfig

_CLIP_MERGES = 49152 - 256 - 2
_WORD_RE = regex.compile(
    r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", regex.IGNORECASE)


class Tokenizer(Protocol):
    context_length: int

    def __call__(self, texts: list[str], trim: bool = False) -> np.ndarray:
        """(N, L) int64 ids, right-padded: L is the context length, or with `trim` the longest text's length."""
        ...


@lru_cache(maxsize=1)
def _byte_alphabet() -> dict[int, str]:
    """Map every byte to a printable unicode character, as CLIP's vocabulary expects."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


class ClipBpeTokenizer:
    def __init__(self, merges_path: Path, context_length: int = 77) -> None:
        with gzip.open(merges_path) as f:
            lines = f.read().decode("utf-8").split("\n")[1:_CLIP_MERGES + 1]
        merges = [tuple(line.split()) for line in lines]
        alphabet = list(_byte_alphabet().values())
        vocab = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges]
        vocab += ["<start_of_text>", "<end_of_text>"]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.sot = self.encoder["<start_of_text>"]
        self.eot = self.encoder["<end_of_text>"]
        self.context_length = context_length
        self._cache: dict[str, list[str]] = {}

    def _bpe(self, token: str) -> list[str]:
        if token in self._cache:
            return self._cache[token]
        word = [*token[:-1], token[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(itertools.pairwise(word))
            best = min(pairs, key=lambda p: self.ranks.get(p, 1 << 30))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        text = " ".join(html.unescape(html.unescape(ftfy.fix_text(text))).split()).lower()
        alphabet = _byte_alphabet()
        ids: list[int] = []
        for token in _WORD_RE.findall(text):
            mapped = "".join(alphabet[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(mapped))
        return ids

    def __call__(self, texts: list[str], trim: bool = False) -> np.ndarray:
        rows = [[*[self.sot, *self.encode(text)][: self.context_length - 1], self.eot] for text in texts]
        width = max(map(len, rows), default=self.context_length) if trim else self.context_length
        out = np.zeros((len(texts), width), dtype=np.int64)
        for i, ids in enumerate(rows):
            out[i, : len(ids)] = ids
        return out


class HfTokenizer:
    def __init__(self, path: Path, context_length: int, pad_id: int) -> None:
        from tokenizers import Tokenizer as _HfTokenizer

        self._tok = _HfTokenizer.from_file(str(path))
        self._tok.enable_truncation(max_length=context_length)
        self._tok.enable_padding(length=context_length, pad_id=pad_id)
        self.context_length = context_length

    def __call__(self, texts: list[str], trim: bool = False) -> np.ndarray:
        encodings = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(encodings), self.context_length)
        if trim:  # padding is on the right: keep up to the last real token of the longest text
            ids = ids[:, : max((sum(e.attention_mask) for e in encodings), default=self.context_length)]
        return ids


def load_tokenizer(folder: Path, config: TokenizerConfig) -> Tokenizer:
    path = Path(folder) / config.file
    if config.kind == "clip_bpe":
        return ClipBpeTokenizer(path, config.context_length)
    if config.kind == "hf":
        return HfTokenizer(path, config.context_length, config.pad_id)
    raise ValueError(f"unknown tokenizer kind {config.kind!r}")
