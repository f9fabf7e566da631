"""Words that mean a word, from WordNet: a visitor's "pram" is a file's "stroller".

The sentence encoder (all-MiniLM-L6-v2) does not know many everyday synonyms, and no
threshold on its cosines tells a visitor's word for a file's thing from a thing the file
lacks (docs/ANSWERS.md, section 14, has the figures). A thesaurus says which words mean
the same, in general English: Princeton WordNet 3.0 (Miller 1995, "WordNet: a lexical
database for English"), as Debian's `wordnet-base` package installs it in
/usr/share/wordnet (no download at run time; without it the index matches by words and
meaning only, as before).

A word's related words here are the words of its commonest senses' synsets (its
synonyms: "pram" -> "stroller", "repay" -> "refund") and the words WordNet derives from
those ("translate" -> "interpret" -> "interpreter"); never a broader or narrower word (a
holiday's name -> "holiday" is a hypernym: not followed). Apart, `beside` gives the words
WordNet files next to a noun under the same broader word ("loo" and "restroom" are both
kinds of "toilet"), for the index to weigh by meaning (agent/answers/index.py), and
`narrower` the kinds WordNet files directly under a noun ("drinks" -> "coffee").

The index files are sorted, so a word is found by bisection in the file mapped into
memory: no table of 150,000 words is built, and only the pages a look-up reads are read.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from loguru import logger

#: where Debian's wordnet-base puts the database
SYSTEM_WORDNET = Path("/usr/share/wordnet")
#: WordNet's parts of speech, as its files name them (satellite adjectives are in "adj")
_FILES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj"}
#: a word's commonest senses followed, in each part of speech (WordNet lists them by how
#: often they were tagged): a rare sense reaches words a visitor does not mean ("drop" is
#: also "floor", as in knocking someone down)
SENSES = 3
#: WordNet's pointer from a word to a word derived from it ("interpret" -> "interpreter")
_DERIVED = "+"
#: WordNet's pointers from a synset to its broader one and to its narrower ones (an
#: instance's, "@i"/"~i", are not followed: a name is not its kind)
_BROADER, _NARROWER = "@", "~"
#: how WordNet's lemmatiser undoes English endings (its "morphy" rules), by part of speech
_ENDINGS = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
}


def _mapped(path: Path) -> mmap.mmap:
    """A database file mapped read-only: the pages a look-up reads are all it costs."""
    with path.open("rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


class Thesaurus:
    """A word's synonyms and derived words from a WordNet 3.0 database folder."""

    def __init__(self, folder: Path) -> None:
        """`folder`: a WordNet 3.0 database (index.noun, data.noun, ... as Princeton ships
        them); a missing file raises `FileNotFoundError` naming it."""
        self.folder = Path(folder)
        self._index = {pos: _mapped(self.folder / f"index.{name}")
                       for pos, name in _FILES.items() if pos != "s"}
        self._data = {pos: _mapped(self.folder / f"data.{name}")
                      for pos, name in _FILES.items() if pos != "s"}

    @classmethod
    def system(cls) -> Thesaurus | None:
        """The system's WordNet (Debian's wordnet-base), or None, logged, without it (or
        with a part of it missing or unreadable: the kiosk serves on without it)."""
        try:
            return cls(SYSTEM_WORDNET)
        except (OSError, ValueError) as error:
            logger.warning(f"no usable WordNet in {SYSTEM_WORDNET} ({error}): a visitor's "
                           "words are met by words and meaning only (apt-get install "
                           "wordnet-base, or run `make setup` as root)")
            return None

    def _offsets(self, lemma: str, pos: str) -> list[int]:
        """The synsets of `lemma` (WordNet's form: lower case, "_" between words) as `pos`,
        commonest sense first; [] when WordNet does not hold it."""
        data = self._index[pos]
        key = lemma.encode("latin-1", "ignore") + b" "
        lo, hi = 0, len(data)
        while lo < hi:  # bisect over lines: the file is sorted by its first field
            mid = (lo + hi) // 2
            start = data.rfind(b"\n", 0, mid) + 1
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            line = data[start:end]
            if line.startswith(key):
                fields = line.split()
                pointers = int(fields[3])
                # lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt offsets...
                return [int(f) for f in fields[4 + pointers + 2:]]
            if line[:1] == b" " or line < key:
                lo = end + 1
            else:
                hi = start
        return []

    def _synset(self, pos: str, offset: int) -> tuple[list[str], list[tuple[str, str, int, int, int]]]:
        """A synset's words and its pointers (symbol, part of speech, offset, source word,
        target word: 0 and 0 for a pointer between whole synsets)."""
        data = self._data["a" if pos == "s" else pos]
        line = data[offset:data.find(b"\n", offset)].decode("latin-1").split(" | ")[0].split()
        # offset lex_filenum ss_type w_cnt (word lex_id)... p_cnt (symbol offset pos st)...
        count = int(line[3], 16)
        words = [line[4 + 2 * i] for i in range(count)]
        at = 4 + 2 * count
        pointers = []
        for i in range(int(line[at])):
            symbol, target, target_pos, st = line[at + 1 + 4 * i: at + 5 + 4 * i]
            pointers.append((symbol, target_pos, int(target), int(st[:2], 16), int(st[2:], 16)))
        return words, pointers

    def _lemmas(self, word: str, pos: str) -> list[str]:
        """The dictionary forms `word` may be as `pos` ("strollers" -> "stroller")."""
        forms = [word]
        for ending, base in _ENDINGS["a" if pos == "s" else pos]:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                forms.append(word[: -len(ending)] + base)
        return [f for f in dict.fromkeys(forms) if self._offsets(f, pos)]

    @lru_cache(maxsize=4096)  # noqa: B019 (one thesaurus a process, its words few)
    def related(self, word: str) -> frozenset[str]:
        """The words that mean `word` in one of its senses, and the words derived from
        those, lower case, words of a phrase joined by a space ("pick up"); `word` apart."""
        asked = re.sub(r"[\s-]+", "_", word.strip().lower())
        out: set[str] = set()
        for pos in ("n", "v", "a"):
            for lemma in self._lemmas(asked, pos):
                for offset in self._offsets(lemma, pos)[:SENSES]:
                    words, pointers = self._synset(pos, offset)
                    out.update(w.lower() for w in words)
                    for symbol, target_pos, target, source, goal in pointers:
                        if symbol == _DERIVED and source and goal:
                            out.add(self._synset(target_pos, target)[0][goal - 1].lower())
        out.discard(asked)
        return frozenset(re.sub(r"\(\w+\)$", "", w).replace("_", " ") for w in out)

    @lru_cache(maxsize=4096)  # noqa: B019 (one thesaurus a process, its words few)
    def phrasal_verb(self, verb: str, particle: str) -> str | None:
        """The verb-and-particle phrase WordNet holds for `verb` (any form: "brought",
        "dropping") and `particle`, as "bring back"; None when WordNet has no such verb."""
        for form in self._lemmas(verb_base(verb), "v"):
            if self._offsets(f"{form}_{particle.lower()}", "v"):
                return f"{form} {particle.lower()}"
        return None

    @lru_cache(maxsize=4096)  # noqa: B019 (one thesaurus a process, its words few)
    def beside(self, word: str) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
        """Nouns WordNet files beside `word` (a noun, in one of its commonest senses) under
        the same broader word: (the broader synset's words, its other narrower synsets'
        words) for each broader synset, lower case, a phrase's words joined by a space
        ("loo" -> ({"toilet", "bathroom", ...}, {"restroom", "washroom", ...})). Names
        (capitalised: "Easter" beside "Christmas") are left out on both sides; `word` apart."""
        asked = re.sub(r"[\s-]+", "_", word.strip().lower())
        out: list[tuple[frozenset[str], frozenset[str]]] = []
        for lemma in self._lemmas(asked, "n"):
            for offset in self._offsets(lemma, "n")[:SENSES]:
                words, pointers = self._synset("n", offset)
                if any(w[:1].isupper() for w in words if w.lower() == lemma):
                    continue  # a name's sense ("Eve" of "eve")
                for symbol, _, broader, _, _ in pointers:
                    if symbol != _BROADER:
                        continue
                    above, below = self._synset("n", broader)
                    sisters = {w for symbol2, _, target, _, _ in below if symbol2 == _NARROWER
                               and target != offset for w in self._synset("n", target)[0]}
                    out.append((_plain(above), _plain(sisters) - {lemma.replace("_", " ")}))
        return tuple(out)

    @lru_cache(maxsize=4096)  # noqa: B019 (one thesaurus a process, its words few)
    def narrower(self, word: str) -> frozenset[str]:
        """The nouns WordNet files directly under `word` (a noun, in one of its commonest
        senses) as kinds of it ("drinks" -> "coffee", "tea", ...), names left out."""
        asked = re.sub(r"[\s-]+", "_", word.strip().lower())
        out: set[str] = set()
        for lemma in self._lemmas(asked, "n"):
            for offset in self._offsets(lemma, "n")[:SENSES]:
                for symbol, _, target, _, _ in self._synset("n", offset)[1]:
                    if symbol == _NARROWER:
                        out.update(self._synset("n", target)[0])
        return _plain(out) - {asked.replace("_", " ")}


def _plain(words: Iterable[str]) -> frozenset[str]:
    """WordNet's words as a visitor writes them: lower case, a space between a phrase's
    words, no adjective marker ("(a)"); names (capitalised) left out."""
    return frozenset(re.sub(r"\(\w+\)$", "", w).replace("_", " ").lower()
                     for w in words if not w[:1].isupper())


@lru_cache(maxsize=1)
def _irregular_verbs() -> dict[str, str]:
    """WordNet's irregular verb forms, each with its dictionary form ("sold" -> "sell"), from
    the system's verb.exc; {} without it."""
    try:
        lines = (SYSTEM_WORDNET / "verb.exc").read_text(encoding="latin-1").splitlines()
    except OSError:
        return {}
    return {fields[0]: fields[1] for fields in (line.split() for line in lines) if len(fields) > 1}


def verb_base(word: str) -> str:
    """A verb form's dictionary form where WordNet lists it as irregular ("sold" -> "sell",
    "gave" -> "give"), else `word` lower-cased."""
    word = word.lower()
    return _irregular_verbs().get(word, word)
