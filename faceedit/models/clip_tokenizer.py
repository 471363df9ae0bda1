"""CLIP's byte-level BPE tokenizer (Radford et al. 2021; openai/CLIP @d05afc4 ``clip/simple_tokenizer.py``).

Reads OpenAI's merge list ``bpe_simple_vocab_16e6.txt.gz`` (MIT, shipped as ``faceedit/data/``, see its
``LICENCE-clip-bpe.txt``). Text is cleaned (HTML entities unescaped, whitespace collapsed, lower-cased), split
into words by Unicode category (letters, single digits, other runs, the English contractions), each word's UTF-8
bytes mapped to printable characters and merged by rank. ``tokenize`` pads to 77 ids between start/end markers.

The official cleaner also runs ``ftfy.fix_text`` (repairs mojibake); it is used here when ``ftfy`` is installed.
Plain text gives the same ids either way.
"""

from __future__ import annotations

import functools
import gzip
import html
import unicodedata
from pathlib import Path

import torch

from faceedit.errors import InvalidArgumentError

__all__ = ["DEFAULT_VOCAB", "Tokenizer", "tokenize"]

DEFAULT_VOCAB = Path(__file__).resolve().parent.parent / "data" / "bpe_simple_vocab_16e6.txt.gz"
_N_MERGES = 49152 - 256 - 2  # merges used: the vocabulary is 256 bytes ×2 (+"</w>") + merges + 2 markers
_SOT, _EOT = "<|startoftext|>", "<|endoftext|>"
_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


@functools.lru_cache(maxsize=1)
def _byte_chars() -> list[str]:
    """Byte value → printable character: printable Latin-1 bytes keep their character, the rest get 256+n."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def _clean(text: str) -> str:
    try:
        import ftfy  # optional: the official cleaner's mojibake repair

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).lower()


def _category(ch: str) -> str:
    """'L' letter, 'N' number, 'S' whitespace, 'O' anything else (the split pattern's classes)."""
    if ch.isspace():
        return "S"
    c = unicodedata.category(ch)[0]
    return c if c in ("L", "N") else "O"


def _words(text: str) -> list[str]:
    """Split like CLIP's pattern: markers | contractions | letter runs | one digit | runs of other symbols."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        for marker in (_SOT, _EOT, *_CONTRACTIONS):
            if text.startswith(marker, i):
                out.append(marker)
                i += len(marker)
                break
        else:
            kind = _category(text[i])
            if kind == "S":
                i += 1
            elif kind == "N":
                out.append(text[i])
                i += 1
            else:
                j = i + 1
                while j < n and _category(text[j]) == kind:
                    j += 1
                out.append(text[i:j])
                i = j
    return out


class Tokenizer:
    """BPE encoder/decoder over OpenAI's merge list."""

    def __init__(self, vocab_path: str | Path = DEFAULT_VOCAB) -> None:
        with gzip.open(vocab_path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")[1 : _N_MERGES + 1]
        merges = [tuple(line.split()) for line in lines]
        # vocabulary order: the printable bytes' characters first, then the remapped ones (256, 257, …)
        chars = sorted(_byte_chars(), key=ord)
        vocab = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + [_SOT, _EOT]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.decoder = dict(enumerate(vocab))
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.sot, self.eot = self.encoder[_SOT], self.encoder[_EOT]
        self._cache: dict[str, list[str]] = {_SOT: [_SOT], _EOT: [_EOT]}

    def _bpe(self, word: str) -> list[str]:
        if word in self._cache:
            return self._cache[word]
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), None), k) for k, (a, b) in enumerate(zip(parts, parts[1:]))]
            ranked = [p for p in pairs if p[0] is not None]
            if not ranked:
                break
            best = min(ranked)[0]
            first, second = next((parts[k], parts[k + 1]) for r, k in ranked if r == best)
            merged, k = [], 0
            while k < len(parts):
                if k < len(parts) - 1 and parts[k] == first and parts[k + 1] == second:
                    merged.append(first + second)
                    k += 2
                else:
                    merged.append(parts[k])
                    k += 1
            parts = merged
        self._cache[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        """Text → BPE ids (no start/end markers)."""
        chars = _byte_chars()
        ids: list[int] = []
        for word in _words(_clean(text)):
            mapped = "".join(chars[b] for b in word.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self._bpe(mapped))
        return ids

    def decode(self, ids: list[int]) -> str:
        """BPE ids → text (words separated by the end-of-word markers)."""
        inverse = {c: b for b, c in enumerate(_byte_chars())}
        text = "".join(self.decoder[i] for i in ids)
        raw = bytes(inverse[c] for c in text.replace("</w>", " ") if c in inverse)
        return raw.decode("utf-8", errors="replace").strip()


@functools.lru_cache(maxsize=2)
def _default_tokenizer(path: str) -> Tokenizer:
    return Tokenizer(path)


def tokenize(
    texts: str | list[str],
    context_length: int = 77,  # CLIP's text context
    truncate: bool = False,  # cut over-long prompts (keeping the end marker) instead of raising
    vocab_path: str | Path = DEFAULT_VOCAB,
) -> torch.Tensor:
    """Prompts → int64 ids [N, context_length]: start marker, BPE ids, end marker, zero padding."""
    tok = _default_tokenizer(str(vocab_path))
    texts = [texts] if isinstance(texts, str) else list(texts)
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for row, text in enumerate(texts):
        ids = [tok.sot, *tok.encode(text), tok.eot]
        if len(ids) > context_length:
            if not truncate:
                raise InvalidArgumentError(
                    f"the prompt {text[:40]!r}… has {len(ids)} tokens; CLIP takes at most {context_length}"
                )
            ids = ids[:context_length]
            ids[-1] = tok.eot
        out[row, : len(ids)] = torch.tensor(ids)
    return out
