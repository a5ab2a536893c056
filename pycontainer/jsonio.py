"""JSON for the hot path: the stdlib's own C scanner and encoder, without ``import json``.

``import json`` pulls in ``json.decoder`` and ``json.encoder``, which import
``re`` (and with it ``enum``, ``functools``, ``collections``): about 5 ms
of every ``create``/``start``/``delete``, more than the whole of runc's
``start``. The work itself is done by CPython's ``_json`` C module either way
(``json.loads`` calls ``_json.make_scanner``, ``json.dumps`` calls
``_json.make_encoder``); this module calls the same two functions with the
same settings, so the results are the same as ``json.loads(s)`` and
``json.dumps(obj, separators=...)``. Anything unusual (bytes that are not
plain UTF-8, a syntax error, an object json cannot encode, no ``_json``)
is handed to the ``json`` module itself, so error messages are json's own.
See the ``json`` module's documentation (RFC 8259).
"""

from __future__ import annotations

try:
    import _json as _c         # loaded with this module: the init may not import after pivot_root
except ImportError:            # pragma: no cover - CPython always has it
    _c = None

_WS = " \t\n\r"
_scanner = None
_encoders: dict = {}


class _Context:
    # the attributes json.decoder.JSONDecoder gives _json.make_scanner
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo: dict = {}


def loads(s: str | bytes):
    """``json.loads(s)``."""
    global _scanner
    if isinstance(s, (bytes, bytearray)):
        # json.loads detects UTF-16/32 and a UTF-8 BOM; plain UTF-8 starts with an ASCII byte
        if not s or s[0] in (0, 0xEF, 0xFE, 0xFF) or (len(s) > 1 and s[1] == 0):
            return _json().loads(s)
        try:
            s = s.decode("utf-8")
        except UnicodeDecodeError:
            return _json().loads(s)
    if _scanner is None:
        if _c is None:
            return _json().loads(s)
        _scanner = _c.make_scanner(_Context())
    start = len(s) - len(s.lstrip(_WS))
    try:
        obj, end = _scanner(s, start)
    except (StopIteration, ValueError, SystemError):
        # json's own error ("Expecting value ..."): the scanner raises it only when
        # json.decoder is loaded (SystemError otherwise), so ask json itself
        return _json().loads(s)
    finally:
        _Context.memo.clear()
    if end != len(s) and s[end:].strip(_WS):
        return _json().loads(s)             # "Extra data"
    return obj


def dumps(obj, separators: tuple[str, str] = (", ", ": ")) -> str:
    """``json.dumps(obj, separators=separators)`` (ensure_ascii, no indent, no sort)."""
    enc = _encoders.get(separators)
    if enc is None:
        if _c is None:
            return _json().dumps(obj, separators=separators)
        enc = _c.make_encoder({}, _unencodable, _c.encode_basestring_ascii, None,
                           separators[1], separators[0], False, False, True)
        _encoders[separators] = enc
    try:
        return "".join(enc(obj, 0))
    except (TypeError, ValueError):
        return _json().dumps(obj, separators=separators)   # json's own error


def dumps_indented(obj, indent: int = 2) -> str:
    """``json.dumps(obj, indent=indent)`` (what runc's ``state`` prints): the C encoder does
    not indent, so containers are laid out here and every scalar goes through ``dumps``."""
    try:
        return "".join(_indented(obj, "\n", " " * indent))
    except (TypeError, ValueError):
        return _json().dumps(obj, indent=indent)       # json's own layout or error


def _indented(o, nl: str, step: str):
    if isinstance(o, dict):
        items, opening, closing = o.items(), "{", "}"
    elif isinstance(o, (list, tuple)):
        items, opening, closing = ((None, v) for v in o), "[", "]"
    else:
        yield dumps(o)
        return
    inner, sep = nl + step, opening
    for k, v in items:
        if k is None and opening == "{" or k is not None and not isinstance(k, str):
            raise TypeError("a key json would convert")
        yield sep + inner + ("" if k is None else dumps(k) + ": ")
        yield from _indented(v, inner, step)
        sep = ","
    yield opening + closing if sep == opening else nl + closing


def _unencodable(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _json():
    import json
    return json
