"""A big multi-document YAML text loaded by several processes: render.py's parser for desired/ files.

A template that stamps a CI per host renders one text of 10,000 documents (~15 MB at 60 declared
attributes), and loading it is the longest step of a cold project load. The text is cut at document
markers (`---` at the start of a line) into one piece per usable core; forked children load all pieces
but the first, which this process loads meanwhile, and send their documents back pickled (~0.1 s for
5,000 documents). A `---` at the start of a line always starts a document in YAML (libyaml ends plain
and block scalars there, and refuses it inside quotes or flow collections, which the pieces then also
refuse), so the pieces' documents are the whole text's — unless a directive (`%YAML`, `%TAG`) applies
across the cut: texts with one are loaded whole. Any error in any piece, or any failure of the
machinery, means the whole text is loaded again here, so errors and their line numbers are exactly
those of a plain load.
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import threading
from typing import Any

from .userdata import load_all

MIN_SPLIT = 2_000_000  # characters: below this a fork and a pickle cost about what they save
MAX_PIECES = 4
_MARKER = re.compile(r"\n(?=---(?:[ \t\r\n]|$))")


def load_documents(text: str, min_split: int = MIN_SPLIT) -> list[Any]:
    """Every document of `text`, as `userdata.load_all` gives them (raises what it raises)."""
    cuts = _cuts(text, _cores(), min_split)
    if not cuts:
        return load_all(text)
    pieces = [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)])]
    documents = _load_pieces(pieces)
    return load_all(text) if documents is None else documents


def _cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return min(cores, MAX_PIECES)


def _cuts(text: str, pieces: int, min_split: int = MIN_SPLIT) -> list[int]:
    """Offsets of document markers near each 1/pieces of the text; none when it is not worth a split,
    cannot be forked safely, or holds a directive."""
    if (pieces < 2 or len(text) < min_split or not hasattr(os, "fork") or threading.active_count() > 1
            or text.startswith("%") or "\n%" in text):  # a directive
        return []
    cuts: list[int] = []
    for n in range(1, pieces):
        found = _MARKER.search(text, len(text) * n // pieces)
        if found is None:
            break
        cut = found.start() + 1  # the marker's line begins the next piece
        if not cuts or cut > cuts[-1]:
            cuts.append(cut)
    return cuts


def _load_pieces(pieces: list[str]) -> list[Any] | None:
    """The documents of every piece in order, or None when any piece failed (the caller loads the whole)."""
    children = [_fork_loader(piece) for piece in pieces[1:]]
    documents = None
    try:
        documents = _gather(pieces[0], children)
        return documents
    finally:
        for pid, reader in children:
            os.close(reader)
            if documents is None:  # no need of what it is still doing
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _gather(first: str, children: list[tuple[int, int]]) -> list[Any] | None:
    try:
        documents = load_all(first)
    except Exception:  # noqa: BLE001 -- reported by the caller's whole-text load, with its true line
        return None
    try:
        for _pid, reader in children:
            status, loaded = pickle.loads(_read_all(reader))
            if status != "ok":
                return None
            documents += loaded
    except (OSError, EOFError, pickle.UnpicklingError, ValueError):
        return None
    return documents


def _fork_loader(piece: str) -> tuple[int, int]:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: load, send, and leave without running any of the parent's exit handlers
        code = 0
        try:
            os.close(reader)
            try:
                payload = pickle.dumps(("ok", load_all(piece)), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # noqa: BLE001 -- any failure: the parent loads the whole text
                payload = pickle.dumps(("failed", None))
            with os.fdopen(writer, "wb") as out:
                out.write(payload)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(writer)
    return pid, reader


def _read_all(reader: int) -> bytes:
    chunks = []
    while chunk := os.read(reader, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
