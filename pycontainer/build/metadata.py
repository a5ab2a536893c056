"""Instructions that only change the image config (no layer): ENV, LABEL, CMD, ENTRYPOINT, ...

Each adds an ``empty_layer`` history entry (the executor does that) and
sets the image-spec ``config`` field docker sets: Env, Labels, ExposedPorts,
Volumes, User, WorkingDir, Cmd, Entrypoint, StopSignal, Healthcheck,
OnBuild; SHELL changes the shell of later shell-form instructions.
Docker's rules kept here: shell form is ``SHELL + [text]``; setting
ENTRYPOINT clears a CMD inherited from the base image (one set in this
stage stays); a relative WORKDIR is relative to the previous one;
``EXPOSE 80`` means ``80/tcp``.

Read: Dockerfile reference (each instruction), image-spec ``config.md``.
"""

from __future__ import annotations

import json
import posixpath
import re

from .. import duration
from . import containerfile as cf



def apply(st, ins: cf.Instruction, env: dict) -> str:
    """Apply ``ins`` to ``st.config``; returns the history text (instruction after substitution)."""
    c = st.config.setdefault("config", {})
    kw = ins.keyword
    if kw == "ENV":
        pairs = cf.key_values(ins, env)
        cur = list(c.get("Env") or [])
        for k, v in pairs:
            cur = [e for e in cur if e.partition("=")[0] != k] + [f"{k}={v}"]
            env[k] = v
        c["Env"] = cur
        return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
    if kw in ("LABEL", "MAINTAINER"):
        pairs = cf.key_values(ins, env) if kw == "LABEL" else \
            [("maintainer", cf.word(ins.args, env, ins.escape))]
        if kw == "MAINTAINER":
            st.config["author"] = pairs[0][1]
        c["Labels"] = {**(c.get("Labels") or {}), **dict(pairs)}
        return f"{kw} " + " ".join(f"{k}={v}" for k, v in pairs)
    if kw == "EXPOSE":
        ports = cf.words(ins.args, env, ins.escape)
        if not ports:
            raise ins.error("requires at least one argument")
        exp = dict(c.get("ExposedPorts") or {})
        for p in ports:
            num, _, proto = p.partition("/")
            proto = (proto or "tcp").lower()
            lo, _, hi = num.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()) or proto not in ("tcp", "udp", "sctp"):
                raise ins.error(f"invalid port {p!r}")
            for n in range(int(lo), int(hi or lo) + 1):
                exp[f"{n}/{proto}"] = {}
        c["ExposedPorts"] = exp
        return "EXPOSE " + " ".join(ports)
    if kw == "VOLUME":
        vols = [cf.word(v, env, ins.escape) for v in ins.json_form] if ins.json_form is not None \
            else cf.words(ins.args, env, ins.escape)
        if not vols or any(not v for v in vols):
            raise ins.error("requires at least one non-empty argument")
        c["Volumes"] = {**(c.get("Volumes") or {}), **{v: {} for v in vols}}
        return "VOLUME " + json.dumps(vols)
    if kw == "USER":
        u = cf.word(ins.args, env, ins.escape).strip()
        if not u:
            raise ins.error("requires an argument")
        c["User"] = u
        return "USER " + u
    if kw == "WORKDIR":
        w = cf.word(ins.args, env, ins.escape).strip()
        if not w:
            raise ins.error("requires an argument")
        c["WorkingDir"] = posixpath.normpath(posixpath.join(c.get("WorkingDir") or "/", w))
        return "WORKDIR " + c["WorkingDir"]
    if kw in ("CMD", "ENTRYPOINT"):
        argv = list(ins.json_form) if ins.json_form is not None else \
            (list(st.shell) + [ins.args] if ins.args else [])
        c["Cmd" if kw == "CMD" else "Entrypoint"] = argv or None
        if kw == "CMD":
            st.cmd_set = True
        elif not getattr(st, "cmd_set", False):
            c["Cmd"] = None                    # docker: ENTRYPOINT resets an inherited CMD
        return f"{kw} {json.dumps(argv)}"
    if kw == "SHELL":
        if not ins.json_form:
            raise ins.error("requires a non-empty JSON array")
        st.shell = list(ins.json_form)
        c["Shell"] = list(ins.json_form)
        return f"SHELL {json.dumps(list(ins.json_form))}"
    if kw == "STOPSIGNAL":
        sig = cf.word(ins.args, env, ins.escape).strip()
        if not sig or not (sig.isdigit() or re.fullmatch(r"(SIG)?[A-Z0-9+-]+", sig)):
            raise ins.error(f"invalid signal {sig!r}")
        c["StopSignal"] = sig
        return "STOPSIGNAL " + sig
    if kw == "HEALTHCHECK":
        c["Healthcheck"] = _healthcheck(st, ins)
        return "HEALTHCHECK " + ins.args
    if kw == "ONBUILD":
        trig = ins.args.strip()
        first = trig.split(None, 1)[0].upper() if trig else ""
        if first in ("ONBUILD", "FROM", "MAINTAINER", ""):
            raise ins.error(f"{first or 'an empty'} is not allowed as an ONBUILD trigger")
        if first not in cf.INSTRUCTIONS:
            raise ins.error(f"unknown trigger instruction {first}")
        c["OnBuild"] = list(c.get("OnBuild") or []) + [trig]
        return "ONBUILD " + trig
    raise ins.error("is not supported")


def _healthcheck(st, ins) -> dict:
    hc: dict = {}
    for k, v in ins.flags.items():
        if k in ("interval", "timeout", "start-period", "start-interval"):
            try:
                ns = duration.nanoseconds(v or "")
            except ValueError:
                ns = -1
            if ns < 0:
                raise ins.error(f"--{k}={v}: not a duration (like 30s or 1m30s)")
            hc[{"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
                "start-interval": "StartInterval"}[k]] = ns
        elif k == "retries":
            if not (v or "").isdigit():
                raise ins.error(f"--retries={v}: not a number")
            hc["Retries"] = int(v)
        else:
            raise ins.error(f"unknown flag --{k}")
    rest = ins.args.strip()
    word, _, cmd = rest.partition(" ")
    if word.upper() == "NONE":
        return {"Test": ["NONE"]}
    if word.upper() != "CMD":
        raise ins.error("wants NONE or CMD command")
    cmd = cmd.strip()
    import json
    try:
        argv = json.loads(cmd) if cmd.startswith("[") else None
    except ValueError:
        argv = None
    hc["Test"] = ["CMD"] + argv if isinstance(argv, list) else ["CMD-SHELL", cmd]
    return {"Test": hc.pop("Test"), **hc}
