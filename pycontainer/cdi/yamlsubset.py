"""A strict reader for the YAML that CDI spec files are written in.

CDI specs (``/etc/cdi/*.yaml``, what ``nvidia-ctk cdi generate`` writes) use a
small part of YAML 1.2 (https://yaml.org/spec/1.2.2/): block mappings, block
sequences (``- item``, also at the parent key's indentation), plain, single-
and double-quoted scalars, ``[a, b]`` / ``{}`` flow collections on one line,
comments and one ``---`` document. That part is read here, so pycontainer
needs no YAML library. Anything else (anchors ``&a``/aliases ``*a``, tags
``!t``, block scalars ``|``/``>``, multi-line plain scalars, a second
document, a duplicate key) is refused with the line number: a spec must not
mean something different to this reader and to the reference Go one.
"""

from __future__ import annotations

import json
import re


class YAMLError(ValueError):
    """Malformed (or unsupported) YAML; the message names the line."""


_KEY = re.compile(r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"\[\]{},#&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)"""
                  r"""\s*:(?:\s+|$)""")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def loads(text: str):
    """Parse one YAML document of the supported subset into dicts/lists/scalars."""
    lines = _lines(text)
    if not lines:
        return None
    value, i = _node(lines, 0, lines[0][1])
    if i != len(lines):
        raise YAMLError(f"line {lines[i][0]}: unexpected content at this indentation")
    return value


def _lines(text: str) -> list[list]:
    """[(line number, indent, content)] without blank lines, comments, '---'."""
    out: list[list] = []
    started = False
    for n, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise YAMLError(f"line {n}: a tab in the indentation")
        body = _strip_comment(raw, n).rstrip()
        content = body.lstrip(" ")
        if not content:
            continue
        if content.startswith("%"):
            raise YAMLError(f"line {n}: YAML directives are not supported")
        if content == "---" or content.startswith("--- "):
            if started or out:
                raise YAMLError(f"line {n}: a second YAML document is not supported")
            started = True
            rest = content[3:].strip()
            if rest:
                out.append([n, 0, rest])
            continue
        if content == "...":
            break
        out.append([n, len(body) - len(content), content])
    return out


def _strip_comment(s: str, n: int) -> str:
    quote = None
    i = 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                if quote == "'" and s[i + 1:i + 2] == "'":
                    i += 1
                else:
                    quote = None
        elif c in "\"'" and (i == 0 or s[i - 1] in " \t[{,:-"):
            quote = c
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i]
        i += 1
    if quote:
        raise YAMLError(f"line {n}: unterminated {quote}-quoted string")
    return s


def _node(lines: list, i: int, indent: int):
    """Parse the node starting at lines[i] (indent ``indent``); -> (value, next index)."""
    n, ind, content = lines[i]
    if content == "-" or content.startswith("- "):
        return _sequence(lines, i, ind)
    if _KEY.match(content):
        return _mapping(lines, i, ind)
    if i + 1 < len(lines) and lines[i + 1][1] > ind:
        raise YAMLError(f"line {lines[i + 1][0]}: multi-line scalars are not supported")
    return _scalar(content, n), i + 1


def _sequence(lines: list, i: int, ind: int):
    out = []
    while i < len(lines) and lines[i][1] == ind and (lines[i][2] == "-" or lines[i][2].startswith("- ")):
        n, _, content = lines[i]
        rest = content[1:].lstrip(" ")
        if not rest:
            if i + 1 < len(lines) and lines[i + 1][1] > ind:
                value, i = _node(lines, i + 1, lines[i + 1][1])
            else:
                value, i = None, i + 1
        else:
            col = ind + len(content) - len(rest)
            lines[i] = [n, col, rest]           # "- key: v" is a mapping at the column of "key"
            value, i = _node(lines, i, col)
        out.append(value)
    if i < len(lines) and lines[i][1] > ind:
        raise YAMLError(f"line {lines[i][0]}: bad indentation in a sequence")
    return out, i


def _mapping(lines: list, i: int, ind: int):
    out: dict = {}
    while i < len(lines) and lines[i][1] == ind:
        n, _, content = lines[i]
        m = _KEY.match(content)
        if not m:
            raise YAMLError(f"line {n}: expected 'key: value' in a mapping, got {content!r}")
        key = _scalar(m.group(1), n, key=True)
        if key in out:
            raise YAMLError(f"line {n}: duplicate key {key!r}")
        rest = content[m.end():].strip()
        i += 1
        if rest:
            out[key] = _scalar(rest, n)
            if i < len(lines) and lines[i][1] > ind:
                raise YAMLError(f"line {lines[i][0]}: multi-line scalars are not supported")
        elif i < len(lines) and (lines[i][1] > ind or (lines[i][1] == ind and (
                lines[i][2] == "-" or lines[i][2].startswith("- ")))):
            out[key], i = _node(lines, i, lines[i][1])
        else:
            out[key] = None
    if i < len(lines) and lines[i][1] > ind:
        raise YAMLError(f"line {lines[i][0]}: bad indentation in a mapping")
    return out, i


def _scalar(s: str, n: int, key: bool = False):
    s = s.strip()
    if s.startswith('"'):
        if len(s) < 2 or not s.endswith('"'):
            raise YAMLError(f"line {n}: bad double-quoted string {s!r}")
        try:
            return json.loads(s)
        except ValueError:
            raise YAMLError(f"line {n}: unsupported escape in {s!r}") from None
    if s.startswith("'"):
        if len(s) < 2 or not s.endswith("'") or "'" in s[1:-1].replace("''", ""):
            raise YAMLError(f"line {n}: bad single-quoted string {s!r}")
        return s[1:-1].replace("''", "'")
    if s.startswith("[") or s.startswith("{"):
        if key:
            raise YAMLError(f"line {n}: a flow collection as a key is not supported")
        return _flow(s, n)
    if s[0] in "&*!|>%@`":
        raise YAMLError(f"line {n}: YAML {_what(s[0])} ({s[:10]!r}) are not supported")
    if key:
        return s
    low = s.lower() if s in ("true", "True", "TRUE", "false", "False", "FALSE",
                             "null", "Null", "NULL") else s
    if low in ("null", "~"):
        return None
    if low in ("true", "false"):
        return low == "true"
    if _INT.match(s):
        return int(s)
    if _OCT.match(s):
        return int(s[2:], 8)
    if _HEX.match(s):
        return int(s[2:], 16)
    if _FLOAT.match(s) and any(c.isdigit() for c in s):
        return float(s)
    if ": " in s or s.endswith(":"):
        raise YAMLError(f"line {n}: a ': ' inside a plain scalar {s!r} (quote it)")
    return s


def _what(c: str) -> str:
    return {"&": "anchors", "*": "aliases", "!": "tags", "|": "block scalars",
            ">": "block scalars"}.get(c, "reserved indicators")


def _flow(s: str, n: int):
    """One-line ``[a, "b", 1]`` or ``{k: v}`` (no nesting beyond one level)."""
    opener, closer = s[0], {"[": "]", "{": "}"}[s[0]]
    if not s.endswith(closer):
        raise YAMLError(f"line {n}: a flow collection must end on its line: {s!r}")
    body = s[1:-1].strip()
    items = _split_flow(body, n) if body else []
    if opener == "[":
        return [_scalar(it, n) for it in items]
    out = {}
    for it in items:
        m = _KEY.match(it + (" " if not it.endswith(" ") else ""))
        if not m:
            raise YAMLError(f"line {n}: expected 'key: value' in {s!r}")
        k = _scalar(m.group(1), n, key=True)
        if k in out:
            raise YAMLError(f"line {n}: duplicate key {k!r}")
        out[k] = _scalar(it[m.end():].strip() or "null", n)
    return out


def _split_flow(body: str, n: int) -> list[str]:
    items, cur, quote = [], "", None
    for c in body:
        if quote:
            cur += c
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            cur += c
        elif c in "[]{}":
            raise YAMLError(f"line {n}: nested flow collections are not supported")
        elif c == ",":
            items.append(cur.strip())
            cur = ""
        else:
            cur += c
    if cur.strip():
        items.append(cur.strip())
    if any(not it for it in items):
        raise YAMLError(f"line {n}: an empty entry in a flow collection")
    return items


def dumps(value, indent: int = 0) -> str:
    """Write dicts/lists/str/int/bool as block YAML this reader reads back (strings quoted)."""
    return "---\n" + "".join(_dump(value, 0))


def _dump(v, ind: int):
    pad = " " * ind
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                yield f"{pad}{k}:\n"
                yield from _dump(x, ind + 2 if isinstance(x, dict) else ind)
            else:
                yield f"{pad}{k}: {_flat(x)}\n"
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, dict) and x:
                body = "".join(_dump(x, ind + 2))
                yield f"{pad}- {body[ind + 2:]}"
            elif isinstance(x, list) and x:
                yield f"{pad}-\n"
                yield from _dump(x, ind + 2)
            else:
                yield f"{pad}- {_flat(x)}\n"


def _flat(x) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, (dict, list)):
        return "{}" if isinstance(x, dict) else "[]"
    return json.dumps(str(x))
