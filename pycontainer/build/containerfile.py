"""The Containerfile language: lines, directives, continuations, heredocs, and ``$VAR`` substitution.

``parse(text, filename)`` turns a Containerfile into a list of
``Instruction`` (keyword, flags, arguments, whether the JSON "exec form" was
used, heredoc bodies, and the line it started on, for error messages). Rules
are docker's:

* parser directives (``# escape=`` and ``# syntax=``) only before the first
  instruction, comment or blank line; ``escape`` is ``\\`` or a backtick;
* a line ending in the escape character continues on the next; comment lines
  and empty lines inside a continuation are dropped;
* ``RUN <<EOF`` / ``COPY <<EOF /dst``: the lines up to ``EOF`` are the body
  (``<<-`` strips leading tabs; a quoted word disables expansion);
* ``["a", "b"]`` after RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD, VOLUME is the
  exec (JSON) form.

``words(text, env)`` and ``word(text, env)`` do docker's word processing:
quotes, the escape character, ``$VAR``, ``${VAR}``, ``${VAR:-x}``,
``${VAR-x}``, ``${VAR:+x}``, ``${VAR+x}``, ``${VAR:?msg}``.

Read: Dockerfile reference, sections "Parser directives", "Environment
replacement", "Here-Documents".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import BuildError

INSTRUCTIONS = ("FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY",
                "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
                "HEALTHCHECK", "SHELL")
JSON_FORM = ("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME")
FLAGGED = ("FROM", "RUN", "COPY", "ADD", "HEALTHCHECK")
HEREDOC = ("RUN", "COPY", "ADD")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass
class Instruction:
    keyword: str                       # upper case
    args: str                          # the raw argument text (continuations joined)
    line: int                          # 1-based line it starts on
    filename: str = "Containerfile"
    flags: dict = field(default_factory=dict)      # --name=value (None for bare --name; a list
    #                                                for --mount, which may be given again)
    json_form: list | None = None                  # exec form, when the args were a JSON array
    heredocs: list = field(default_factory=list)   # [(word, body, expand)]
    escape: str = "\\"

    @property
    def where(self) -> str:
        return f"{self.filename}:{self.line}"

    def error(self, msg: str) -> BuildError:
        return BuildError(f"{self.where}: {self.keyword} {msg}")

    def text(self) -> str:
        """The instruction as written (for history and step lines)."""
        flags = " ".join(f"--{k}" + (f"={v}" if v is not None else "")
                         for k, vs in self.flags.items() for v in (vs if isinstance(vs, list) else [vs]))
        return " ".join(x for x in (self.keyword, flags, self.args) if x)


def parse(text: str, filename: str = "Containerfile") -> list[Instruction]:
    """The instructions of a Containerfile, or ``BuildError`` naming file and line."""
    lines = text.splitlines()
    escape = "\\"
    i = 0
    # parser directives: only at the very top
    seen = set()
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            break
        name, value = m.group(1).lower(), m.group(2)
        if name in seen:
            raise BuildError(f"{filename}:{i + 1}: parser directive {name!r} given twice")
        seen.add(name)
        if name == "escape":
            if value not in ("\\", "`"):
                raise BuildError(f"{filename}:{i + 1}: invalid escape token {value!r} "
                                 "(want \\ or `)")
            escape = value
        elif name not in ("syntax", "check"):
            break                                 # an ordinary comment: directives end
        i += 1
    out: list[Instruction] = []
    while i < len(lines):
        raw = lines[i]
        start = i
        i += 1
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        parts = [raw.rstrip()]
        while _continues(parts[-1], escape):
            parts[-1] = parts[-1].rstrip()[:-1]
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1
            if i >= len(lines):
                break
            parts.append(lines[i].rstrip())
            i += 1
        logical = "".join(parts).strip()
        word, _, rest = logical.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        kw = word.upper()
        if kw not in INSTRUCTIONS:
            raise BuildError(f"{filename}:{start + 1}: unknown instruction: {word}")
        ins = Instruction(kw, rest.strip(), start + 1, filename, escape=escape)
        if kw in FLAGGED:
            ins.flags, ins.args = _flags(ins)
        if kw in HEREDOC:
            for m in _HEREDOC.finditer(ins.args):
                strip, quote, w = m.group(1), m.group(2), m.group(3)
                body = []
                while True:
                    if i >= len(lines):
                        raise BuildError(f"{filename}:{start + 1}: heredoc <<{w} is not "
                                         f"terminated (no line {w!r})")
                    ln = lines[i]
                    i += 1
                    if (ln.lstrip("\t") if strip else ln) == w:
                        break
                    body.append(ln.lstrip("\t") if strip else ln)
                ins.heredocs.append((w, "\n".join(body) + "\n", not quote))
        if kw in JSON_FORM and ins.args.startswith("[") and not ins.heredocs:
            try:
                v = json.loads(ins.args)
            except ValueError:
                v = None
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                ins.json_form = v
            elif kw == "SHELL":
                raise ins.error("requires the arguments to be a JSON array of strings")
        elif kw == "SHELL":
            raise ins.error("requires the arguments to be a JSON array of strings")
        out.append(ins)
    return out


def _continues(line: str, escape: str) -> bool:
    s = line.rstrip()
    return s.endswith(escape) and not s.endswith(escape * 2) if escape == "`" \
        else s.endswith(escape)


def _flags(ins: Instruction) -> tuple[dict, str]:
    flags = {}
    rest = ins.args
    while rest.startswith("--"):
        tok, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, eq, value = tok[2:].partition("=")
        if not name:
            raise ins.error(f"has a malformed flag {tok!r}")
        if name == "mount":
            flags.setdefault("mount", []).append(value if eq else None)
        else:
            flags[name] = value if eq else None
    return flags, rest


# --- word processing (docker's shell lexer) ----------------------------------------------------

def word(text: str, env: dict, escape: str = "\\") -> str:
    """One word: quotes removed, variables expanded, whitespace kept."""
    return "".join(w for w in _lex(text, env, escape, split=False))


def words(text: str, env: dict, escape: str = "\\") -> list[str]:
    """Split at unquoted whitespace, then quotes removed and variables expanded."""
    return _lex(text, env, escape, split=True)


def expand_vars(text: str, env: dict, escape: str = "\\") -> str:
    """Variables only (a heredoc body): quotes stay; ``\\$`` is a literal ``$``."""
    out: list[str] = []
    _expand(text, 0, env, escape, "$", out)
    return "".join(out)


def _expand(text: str, i: int, env: dict, escape: str, escapable, out: list[str],
            end: str | None = None) -> int:
    """Append ``text[i:]`` to ``out`` with variables expanded and ``escape`` + a character
    of ``escapable`` taken as that character, up to ``end`` (consumed; None: the end of
    ``text``); -> the index after it."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == end:
            return i + 1
        if c == escape and i + 1 < n and text[i + 1] in escapable:
            out.append(text[i + 1])
            i += 2
        elif c == "$":
            v, i = _var(text, i, env, escape)
            out.append(v)
        else:
            out.append(c)
            i += 1
    if end is not None:
        raise BuildError(f"unexpected end of statement while looking for matching {end} "
                         f"in {text!r}")
    return i


def _lex(text: str, env: dict, escape: str, split: bool) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    have = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if split and c in " \t\n":
            if have:
                out.append("".join(cur))
                cur, have = [], False
            i += 1
            continue
        have = True
        if c == escape:
            if i + 1 < n:
                cur.append(text[i + 1])
                i += 2
            else:
                i += 1
            continue
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise BuildError(f"unexpected end of statement while looking for matching ' "
                                 f"in {text!r}")
            cur.append(text[i + 1:j])
            i = j + 1
            continue
        if c == '"':
            i = _expand(text, i + 1, env, escape, ('"', "$", escape), cur, end='"')
            continue
        if c == "$":
            v, i = _var(text, i, env, escape)
            cur.append(v)
            continue
        cur.append(c)
        i += 1
    if have:
        out.append("".join(cur))
    return out


def _var(text: str, i: int, env: dict, escape: str) -> tuple[str, int]:
    """Expand the variable at text[i] == '$'; returns (value, index after it)."""
    n = len(text)
    if i + 1 >= n:
        return "$", i + 1
    c = text[i + 1]
    if c == "{":
        j = i + 2
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[j:])
        if not m:
            raise BuildError(f"bad substitution in {text!r}")
        name = m.group(0)
        j += len(name)
        if j < n and text[j] == "}":
            return env.get(name, ""), j + 1
        op = ""
        if text[j:j + 2] in (":-", ":+", ":?"):
            op, j = text[j:j + 2], j + 2
        elif j < n and text[j] in "-+?":
            op, j = text[j], j + 1
        else:
            raise BuildError(f"bad substitution in {text!r}")
        depth, k = 1, j
        while k < n and depth:
            if text[k] == escape:
                k += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            k += 1
        if depth:
            raise BuildError(f"missing '}}' in {text!r}")
        arg = word(text[j:k - 1], env, escape)
        val = env.get(name)
        colon = op.startswith(":")
        unset = val is None or (colon and val == "")
        if op.endswith("-"):
            return (arg if unset else val), k
        if op.endswith("+"):
            return ("" if unset else arg), k
        if unset:
            raise BuildError(f"{name}: {arg or 'is not allowed to be unset'}")
        return val, k
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i + 1:])
    if not m:
        return "$", i + 1
    return env.get(m.group(0), ""), i + 1 + len(m.group(0))


def key_values(ins: Instruction, env: dict) -> list[tuple[str, str]]:
    """ENV/LABEL/ARG pairs: ``k=v k2="v 2"``, or the legacy ``ENV k v w`` form."""
    ws = words(ins.args, env, ins.escape)
    if not ws:
        raise ins.error("requires at least one argument")
    if ins.keyword == "ARG":
        return [(k, v if eq else None) for k, eq, v in (w.partition("=") for w in ws)]
    if "=" not in ws[0]:
        if len(ws) < 2:
            raise ins.error(f"{ws[0]!r} has no value (want NAME=VALUE or NAME VALUE)")
        name, _, rest = ins.args.strip().partition(" ")
        return [(words(name, env, ins.escape)[0], word(rest.strip(), env, ins.escape))]
    out = []
    for w in ws:
        k, eq, v = w.partition("=")
        if not eq or not k:
            raise ins.error(f"syntax error: {w!r} is not NAME=VALUE")
        out.append((k, v))
    return out
