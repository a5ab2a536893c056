"""``.dockerignore`` / ``.containerignore``: which context files a build may not see.

Docker's rules: one pattern a line; ``#`` lines are comments; each pattern is
cleaned (``filepath.Clean``) and a leading ``/`` dropped; ``*``, ``?`` and
``[...]`` match within one path component, ``**`` any number of components;
``!pattern`` re-includes what an earlier pattern excluded; the *last* matching
line decides. A pattern that matches a directory also excludes everything
under it (a later ``!`` exception can still bring a file back). A malformed
pattern (an unclosed ``[``) is an error naming the file and line.

Read: Dockerfile reference, ".dockerignore file"; Go ``path/filepath.Match``.
"""

from __future__ import annotations

import os
import posixpath
import re

from . import BuildError

NAMES = (".containerignore", ".dockerignore")


class Matcher:
    """``excluded(relpath)``: is this context path hidden from the build?"""

    def __init__(self, rules: list[tuple[bool, re.Pattern]]):
        self.rules = rules                  # (exception?, regex), in file order

    def excluded(self, rel: str) -> bool:
        rel = posixpath.normpath(rel).lstrip("/")
        if rel in ("", "."):
            return False
        parts = rel.split("/")
        result = False
        for exc, rx in self.rules:
            # a pattern matches the path or any of its parent directories
            for k in range(1, len(parts) + 1):
                if rx.fullmatch("/".join(parts[:k])):
                    result = not exc
                    break
        return result

    def __bool__(self) -> bool:
        return bool(self.rules)


def load(context: str) -> Matcher:
    """The matcher for ``context`` (``.containerignore`` wins over ``.dockerignore``)."""
    for name in NAMES:
        path = os.path.join(context, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                return parse(f.read(), path)
    return Matcher([])


def parse(text: str, filename: str = ".dockerignore") -> Matcher:
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        exc = s.startswith("!")
        if exc:
            s = s[1:].strip()
        if not s:
            raise BuildError(f"{filename}:{n}: illegal exclusion pattern: \"!\"")
        s = posixpath.normpath(s).lstrip("/")
        if s in ("", "."):
            continue
        rules.append((exc, _compile(s, filename, n)))
    return Matcher(rules)


def _compile(pat: str, filename: str, n: int) -> re.Pattern:
    out = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**", i):
            i += 2
            if pat.startswith("/", i):
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pat.find("]", i + 2 if pat.startswith("[^", i) or pat.startswith("[!", i) else i + 1)
            if j < 0:
                raise BuildError(f"{filename}:{n}: syntax error in pattern {pat!r} "
                                 "(unclosed '[')")
            body = pat[i + 1:j]
            if body.startswith(("^", "!")):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j
        elif c == "\\":
            if i + 1 >= len(pat):
                raise BuildError(f"{filename}:{n}: syntax error in pattern {pat!r} "
                                 "(trailing '\\')")
            out.append(re.escape(pat[i + 1]))
            i += 1
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise BuildError(f"{filename}:{n}: syntax error in pattern {pat!r} ({exc})") from None
