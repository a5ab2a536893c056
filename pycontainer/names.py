"""The IDs docker gives containers (and anonymous volumes), and the names it gives
containers run without ``--name``: ``adjective_surname``.

An ID is 32 random bytes in hex, 64 characters, with or without ``--name``
(docker's ``stringid.GenerateRandomID``); ``ps`` shows its first 12 and the
container's hostname is those 12. The ID is the container's key (state dir,
cgroup, lease); its name, given or generated, is kept in the container's
directory, as ``rename`` keeps one (lifecycle.rename), and resolved by
``inspect.resolve_id``/``runtime_id``: ``docker run -d --name web busybox``
prints the ID, ``ps`` then shows ``NAMES`` web, and every verb takes either.

The generated names' words are this project's own list: adjectives, and
surnames of people who made computing, mathematics and operating systems
what they are. A taken name gets a digit, as docker's generator retries.
"""

from __future__ import annotations

import os

from .errors import PyContainerError

ADJECTIVES = (
    "able", "agile", "amazing", "ardent", "bold", "brave", "bright", "busy", "calm", "careful",
    "charming", "cheerful", "clever", "cool", "curious", "daring", "dazzling", "eager", "earnest",
    "elated", "elegant", "epic", "fervent", "festive", "fond", "friendly", "gallant", "gentle",
    "glad", "gracious", "happy", "hardy", "honest", "hopeful", "humble", "jolly", "keen", "kind",
    "lucid", "lucky", "merry", "modest", "nifty", "noble", "patient", "peaceful", "plucky",
    "polite", "proud", "quick", "quiet", "radiant", "relaxed", "serene", "sharp", "sleepy",
    "smart", "snappy", "steady", "sunny", "swift", "tender", "thirsty", "tidy", "trusting",
    "upbeat", "vibrant", "vigilant", "wise", "witty", "zealous",
)

SURNAMES = (
    "allen", "babbage", "backus", "bartik", "bell", "berners_lee", "bose", "boole", "cantor",
    "cerf", "codd", "conway", "corbato", "curie", "dijkstra", "engelbart", "euclid", "euler",
    "fermat", "feynman", "floyd", "gauss", "goldberg", "goldwasser", "hamilton", "hamming",
    "hopper", "hypatia", "johnson", "kahan", "kay", "kernighan", "knuth", "lamport", "lovelace",
    "liskov", "mccarthy", "mcilroy", "meitner", "minsky", "moore", "morse", "naur", "neumann",
    "noether", "pascal", "perlman", "ramanujan", "ritchie", "shannon", "shaw", "sutherland",
    "tanenbaum", "thompson", "torvalds", "turing", "wilkes", "wing", "wirth", "yao",
)


def new_id() -> str:
    """A container ID as docker makes one: 256 random bits (getrandom(2)) in hex, drawn
    again while its 12-character short form is all digits (docker's rule: a short ID
    must never read as a number)."""
    while True:
        cid = os.urandom(32).hex()
        if not cid[:12].isdigit():
            return cid


def _below(n: int) -> int:
    """A random number in [0, n) from getrandom(2) (os.urandom; `import random` costs ~1 ms of
    every `run`, and these names need no more than that)."""
    return int.from_bytes(os.urandom(4), "little") % n


def generate(taken, below=_below) -> str:
    """A name for a new container; ``taken(name)`` says whether one is in use (an ID or a
    name). Retries with a digit appended, as docker's; a long run of bad luck gets two.
    ``below(n)``: the random source (tests give their own)."""
    def pair():
        return f"{ADJECTIVES[below(len(ADJECTIVES))]}_{SURNAMES[below(len(SURNAMES))]}"
    name = pair()
    for attempt in range(20):
        candidate = name if attempt == 0 else f"{name}{below(10 if attempt < 10 else 100)}"
        if not taken(candidate):
            return candidate
        if attempt == 9:
            name = pair()
    raise PyContainerError("no free container name after 20 tries: give one with --name")
