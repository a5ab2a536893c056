"""The Go templates of ``--format`` (``inspect``, ``ps``, ``images``, ``version``, ...).

docker renders ``--format`` with Go's text/template over its JSON-shaped
records, plus a few functions of its own. People copy the examples of
docker's documentation, so the language they use is what this renders:

* text and actions ``{{ }}``, ``{{-``/``-}}`` trimming the spaces beside them,
  ``{{/* comments */}}``;
* fields ``.A.B``, ``.``, ``$`` (the record), variables ``$x := PIPELINE``,
  ``$x = PIPELINE``, ``$x.A``, and ``(PIPELINE).A``;
* pipelines ``ARG | FUNC ARGS`` (the value goes last), strings ``"..."`` and
  ```raw```, numbers, ``true``/``false``/``nil``;
* ``{{if}} {{else if}} {{else}} {{end}}``, ``{{with}}``, ``{{range}}`` over a
  list or a map (in key order, as Go), with ``$v :=`` or ``$k, $v :=``, its
  ``{{else}}`` and ``{{break}}``/``{{continue}}``;
* Go's functions ``and or not len index slice print printf println eq ne lt le
  gt ge`` and docker's ``json join split upper lower title truncate pad``.

A field a record lacks is an error (Go's "can't evaluate field"), as in
docker for a struct. Everything is checked before anything is printed: an
error is one line (a PyContainerError), never half an output.
Read: https://pkg.go.dev/text/template and docker's "Format command and log output".
"""

from __future__ import annotations

import json
import operator
import re

from .errors import PyContainerError

_LEX = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)'
                    r'|(?P<var>\$[A-Za-z0-9_]*)|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)'
                    r'|(?P<decl>:=|=)|(?P<punct>[(),|])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))')
_FIELDS = re.compile(r"(?:\.[A-Za-z0-9_]+)+")
_BLOCKS = ("if", "range", "with")


class TemplateError(PyContainerError):
    """A --format that cannot be parsed or rendered."""


class TemplateParseError(TemplateError):
    """A --format that is not a template (docker's inspect exits 64 for it)."""


class _Loop(Exception):
    def __init__(self, kind):
        self.kind = kind


def render(tmpl: str, obj) -> str:
    """``tmpl`` (docker's ``--format``; ``\\t`` and ``\\n`` as in docker) rendered over ``obj``."""
    text = tmpl.replace("\\t", "\t").replace("\\n", "\n")
    try:
        tree = _Parser(text).parse()
    except TemplateError as exc:
        raise TemplateParseError(f"template parsing error: {tmpl!r}: {exc}") from None
    try:
        out: list[str] = []
        _exec(tree, obj, {"$": obj}, out)
    except TemplateError as exc:
        raise TemplateError(f"template {tmpl!r}: {exc}") from None
    except _Loop as exc:
        raise TemplateError(f"template {tmpl!r}: {{{{{exc.kind}}}}} outside a range") from None
    return "".join(out)


def listing(fmt: str, records: list, heads: dict) -> list[str]:
    """docker's ``--format`` over a listing (``ps``, ``images``, ``volume ls``): a template gives
    one rendering per record; ``table TEMPLATE`` first a header (each field's column name from
    ``heads``, else its name in capitals) and aligns the tab-separated columns as docker's
    tabwriter does (at least 10 wide, 3 spaces between); ``json`` a JSON object a record."""
    if fmt.strip() == "json":
        import json
        return [json.dumps(r) for r in records]
    if not fmt.startswith("table"):
        return [render(fmt, r) for r in records]
    body = fmt[len("table"):].strip() or "\t".join("{{.%s}}" % k for k in heads)
    names = {k for r in records[:1] for k in r} | set(heads)
    lines = [render(body, {k: heads.get(k, k.upper()) for k in names})]
    lines += [render(body, r) for r in records]
    return tabwrite("\n".join(lines).split("\n"))


def tabwrite(lines: list[str], minwidth: int = 10, padding: int = 3) -> list[str]:
    """Go's text/tabwriter (padchar ' '): a cell ended by a tab is padded to its column's width;
    a line's last cell is not."""
    cells = [ln.split("\t") for ln in lines]
    widths: dict[int, int] = {}
    for row in cells:
        for i, c in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, minwidth), len(c) + padding)
    return ["".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + row[-1] for row in cells]


# --- parsing: a tree of ("text", s) ("out", pipe) ("set", names, decl, pipe) and blocks ----

class _Parser:
    def __init__(self, text: str):
        self.items: list[tuple[str, str]] = []
        pos = 0
        for m in _LEX.finditer(text):
            before = text[pos:m.start()]
            if m.group(1):
                before = before.rstrip()
            self.items.append(("text", before))
            self.items.append(("action", m.group(2).strip()))
            pos = m.end()
            if m.group(3):
                rest = text[pos:]
                pos += len(rest) - len(rest.lstrip())
        tail = text[pos:]
        if "{{" in tail:
            raise TemplateError("unclosed action")
        self.items.append(("text", tail))
        self.i = 0

    def parse(self) -> list:
        body, end = self._body()
        if end is not None:
            raise TemplateError(f"unexpected {{{{{end[0]}}}}}")
        return body

    def _body(self):
        """Nodes up to an {{end}} / {{else ...}} (returned as the second value) or the end."""
        nodes = []
        while self.i < len(self.items):
            kind, s = self.items[self.i]
            self.i += 1
            if kind == "text":
                if s:
                    nodes.append(("text", s))
                continue
            if s.startswith("/*"):
                if not s.endswith("*/"):
                    raise TemplateError("unclosed comment")
                continue
            word = s.split(None, 1)[0] if s else ""
            if word in ("end", "else"):
                return nodes, (word, s[len(word):].strip())
            if word in _BLOCKS:
                nodes.append(self._block(word, s[len(word):].strip()))
            elif word in ("break", "continue") and s == word:
                nodes.append((word,))
            elif not s:
                raise TemplateError("empty action")
            else:
                names, decl, pipe = _assignment(_tokens(s))
                nodes.append(("set", names, decl, pipe) if names else ("out", pipe))
        return nodes, None

    def _block(self, word: str, rest: str):
        names, decl, pipe = _assignment(_tokens(rest))
        if not pipe:
            raise TemplateError(f"missing value for {word}")
        body, end = self._body()
        otherwise = []
        if end and end[0] == "else":
            if end[1]:                            # {{else if X}} / {{else with X}}
                sub = end[1].split(None, 1)
                if sub[0] not in ("if", "with") or word != sub[0]:
                    raise TemplateError(f"{{{{else {end[1]}}}}} in a {word}")
                otherwise = [self._block(sub[0], sub[1] if len(sub) > 1 else "")]
                return (word, names, decl, pipe, body, otherwise)
            otherwise, end = self._body()
        if not end or end[0] != "end" or end[1]:
            raise TemplateError(f"{{{{{word}}}}} without its {{{{end}}}}")
        return (word, names, decl, pipe, body, otherwise)


def _tokens(s: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    s = s.rstrip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot read {s[pos:].strip()!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        if kind == "var" or (kind, m.group(kind)) == ("punct", ")"):     # $x.Field, (PIPE).Field
            f = _FIELDS.match(s, pos)
            if f:
                out.append(("chain", f.group(0)))
                pos = f.end()
    return out


def _assignment(toks):
    """``$a, $b := PIPE`` / ``$a = PIPE`` / ``PIPE`` -> (names, ":=" or "=" or None, pipeline)."""
    names = []
    j = 0
    while j < len(toks) and toks[j][0] == "var" and (j + 1 >= len(toks) or toks[j + 1][0] != "chain"):
        names.append(toks[j][1])
        j += 1
        if j < len(toks) and toks[j] == ("punct", ","):
            j += 1
            continue
        break
    if names and j < len(toks) and toks[j][0] == "decl":
        if len(names) > 2:
            raise TemplateError("too many variables")
        return names, toks[j][1], _pipeline(toks[j + 1:])
    return [], None, _pipeline(toks)


def _pipeline(toks) -> list:
    """A list of commands; each command a list of operands (("fn", name) first for a call)."""
    cmds, depth, start = [], 0, 0
    for k, t in enumerate(toks):
        if t == ("punct", "("):
            depth += 1
        elif t == ("punct", ")"):
            depth -= 1
            if depth < 0:
                raise TemplateError("unbalanced )")
        elif t == ("punct", "|") and depth == 0:
            cmds.append(_command(toks[start:k]))
            start = k + 1
    if depth:
        raise TemplateError("unbalanced (")
    if toks:
        cmds.append(_command(toks[start:]))
    if any(not c for c in cmds):
        raise TemplateError("missing command in a pipeline")
    return cmds


def _command(toks) -> list:
    ops, k = [], 0
    while k < len(toks):
        kind, v = toks[k]
        if (kind, v) == ("punct", "("):
            depth, j = 1, k + 1
            while depth:
                if j >= len(toks):
                    raise TemplateError("unbalanced (")
                depth += {("punct", "("): 1, ("punct", ")"): -1}.get(toks[j], 0)
                j += 1
            op = ("pipe", _pipeline(toks[k + 1:j - 1]))
            k = j
            if k < len(toks) and toks[k][0] == "chain":
                op = ("chain", op, toks[k][1])
                k += 1
            ops.append(op)
            continue
        if kind == "var" and k + 1 < len(toks) and toks[k + 1][0] == "chain":
            ops.append(("chain", ("var", v), toks[k + 1][1]))
            k += 2
            continue
        if kind == "word":
            if v in ("true", "false"):
                ops.append(("lit", v == "true"))
            elif v == "nil":
                ops.append(("lit", None))
            elif v in FUNCS:
                ops.append(("fn", v))
            else:
                raise TemplateError(f"function {v!r} not defined")
        elif kind == "str":
            ops.append(("lit", json.loads(v, strict=False)))
        elif kind == "raw":
            ops.append(("lit", v[1:-1]))
        elif kind == "num":
            ops.append(("lit", float(v) if "." in v else int(v)))
        elif kind in ("var", "field"):
            ops.append((kind, v))
        else:
            raise TemplateError(f"unexpected {v!r}")
        k += 1
    if ops and ops[0][0] == "fn":
        return ops
    if len(ops) > 1:
        raise TemplateError("one value per command (or a function and its arguments)")
    return ops


# --- evaluation ------------------------------------------------------------------------

def _exec(nodes, dot, env: dict, out: list) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "out":
            out.append(text(_pipe(node[1], dot, env)))
        elif kind == "set":
            _bind(node[1], node[2], _pipe(node[3], dot, env), env)
        elif kind in ("break", "continue"):
            raise _Loop(kind)
        else:
            _block(node, dot, env, out)


def _bind(names, decl, value, env) -> None:
    if decl == "=" and names[0] not in env:
        raise TemplateError(f"undefined variable {names[0]}")
    env[names[0]] = value


def _block(node, dot, env, out) -> None:
    word, names, decl, pipe, body, otherwise = node
    value = _pipe(pipe, dot, env)
    scope = dict(env)
    if word in ("if", "with"):
        if names:
            _bind(names, decl, value, scope)
        inner = value if word == "with" and truth(value) else dot
        _exec(body if truth(value) else otherwise, inner, scope, out)
    else:
        if isinstance(value, dict):
            pairs = sorted(value.items(), key=lambda kv: str(kv[0]))
        elif isinstance(value, (list, tuple, str)) or value is None:
            pairs = list(enumerate(value or ()))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        else:
            raise TemplateError(f"range can't iterate over {text(value)}")
        if not pairs:
            _exec(otherwise, dot, scope, out)
        for k, v in pairs:
            if len(names) == 2:
                scope[names[0]], scope[names[1]] = k, v
            elif names:
                scope[names[0]] = v
            try:
                _exec(body, v, scope, out)
            except _Loop as exc:
                if exc.kind == "break":
                    break


def _pipe(cmds, dot, env):
    value, have = None, False
    for cmd in cmds:
        args = cmd[1:] if cmd[0][0] == "fn" else cmd
        vals = [_operand(a, dot, env) for a in args]
        if have:
            vals.append(value)
        if cmd[0][0] == "fn":
            value = _call(cmd[0][1], vals)
        elif len(vals) != 1:
            raise TemplateError("can't give an argument to a non-function")
        else:
            value = vals[0]
        have = True
    return value


def _operand(op, dot, env):
    kind = op[0]
    if kind == "lit":
        return op[1]
    if kind == "field":
        return dot if op[1] == "." else field(dot, op[1])
    if kind == "var":
        if op[1] not in env:
            raise TemplateError(f"undefined variable {op[1]}")
        return env[op[1]]
    if kind == "pipe":
        return _pipe(op[1], dot, env)
    if kind == "chain":
        return field(_operand(op[1], dot, env), op[2])
    raise TemplateError(f"unexpected {op!r}")


def field(v, path: str):
    """``.A.B`` of ``v``: a key of each map (a missing one is an error, as a struct's field)."""
    for part in path[1:].split("."):
        if isinstance(v, dict) and part in v:
            v = v[part]
        elif part in getattr(v, "GO_NAMES", ()):        # a Go field whose JSON key differs
            v = v[v.GO_NAMES[part]]
        elif v is None:
            raise TemplateError(f"nil pointer evaluating {path}")
        else:
            raise TemplateError(f"can't evaluate field {part} (no field {path!r})")
    return v


def truth(v) -> bool:
    """Go's truth: false, 0, nil and empty strings, lists and maps are false."""
    return bool(v) if v is not None else False


def text(v) -> str:
    """A value as Go's fmt prints it (%v): maps as map[k:v], lists as [a b], nil as <no value>."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{text(x)}" for k, x in sorted(v.items())) + "]"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v)


# --- functions ---------------------------------------------------------------------------

_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([vsdqtxXfFeEgGcbo%])")


def _printf(fmt, *args) -> str:
    args = list(args)

    def one(m):
        flags, width, prec, verb = m.groups()
        if verb == "%":
            return "%"
        if not args:
            return f"%!{verb}(MISSING)"
        a = args.pop(0)
        spec = f"%{flags.replace('#', '')}{width or ''}"
        if verb in "vs":
            return (spec + "s") % (text(a)[:int(prec)] if prec else text(a))
        if verb == "q":
            return (spec + "s") % json.dumps(text(a) if not isinstance(a, str) else a)
        if verb == "t":
            return (spec + "s") % text(a)
        try:
            if verb == "c":
                return chr(int(a))
            if verb == "b":
                return (spec + "s") % format(int(a), "b")
            if verb in "dxXo":
                return (spec + verb) % int(a)
            return (spec + (f".{prec}" if prec else "") + verb) % float(a)
        except (TypeError, ValueError, OverflowError):
            return f"%!{verb}({text(a)})"
    out = _VERB.sub(one, fmt)
    if args:
        out += "%!(EXTRA " + ", ".join(text(a) for a in args) + ")"
    return out


def _index(v, *keys):
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k)                      # a map's missing key: the zero value
        else:
            try:
                v = v[int(k)]
            except (IndexError, TypeError, ValueError):
                raise TemplateError(f"index of {text(v)} with {text(k)}: out of range") from None
    return v


def _compare(op):
    def cmp(a, *bs):            # eq A B C...: A equals any of the others (Go's rule)
        if not bs:
            raise TemplateError("missing argument for comparison")
        try:
            return any(a == b for b in bs) if op is operator.eq else op(a, bs[0])
        except TypeError:
            raise TemplateError(f"incompatible types for comparison: {text(a)}, {text(bs[0])}") \
                from None
    return cmp


def _and(*a):
    return next((v for v in a if not truth(v)), a[-1])


def _or(*a):
    return next((v for v in a if truth(v)), a[-1])


FUNCS = {
    "and": _and, "or": _or, "not": lambda v: not truth(v),
    "len": lambda v: len(v if v is not None else ()), "index": _index,
    "slice": lambda v, *ix: v[int(ix[0]) if ix else 0:int(ix[1]) if len(ix) > 1 else None],
    "print": lambda *a: "".join(text(x) for x in a),
    "println": lambda *a: " ".join(text(x) for x in a) + "\n",
    "printf": lambda f, *a: _printf(text(f), *a),
    **{name: _compare(getattr(operator, name)) for name in ("eq", "ne", "lt", "le", "gt", "ge")},
    "json": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),    # Go's Marshal
    "join": lambda v, sep: text(sep).join(text(x) for x in v or ()),
    "split": lambda s, sep: text(s).split(text(sep)),
    "upper": lambda s: text(s).upper(), "lower": lambda s: text(s).lower(),
    "title": lambda s: text(s).title(), "truncate": lambda v, n: text(v)[:int(n)],
    "pad": lambda v, left, right: " " * int(left) + text(v) + " " * int(right),
}


def _call(name: str, args: list):
    try:
        return FUNCS[name](*args)
    except TypeError as exc:            # a wrong count or a wrong kind of value, as Go's message
        raise TemplateError(f"error calling {name} with {len(args)} argument(s): {exc}") from None
