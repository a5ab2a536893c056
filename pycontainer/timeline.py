"""The trace as a picture: one self-contained HTML page with a timeline of every setup step.

``pycontainer --trace-to FILE.html ...`` collects the same events as
``--trace-to json`` (see ``trace.py``: stage, pid, action, args, config field,
duration) and, when the command ends, draws them: one row per process (the
runtime, stage 1, the container's init, the program), one bar per step placed
at its start time and as wide as it took, its details on hover and on click.
The page has no scripts or styles from elsewhere (no network fetch), so a
teacher can project it offline and a student can open it from a file.

This module only turns a list of event dicts into HTML text; ``trace.py``
decides when to call it.
"""

from __future__ import annotations

import html
import json

# the order rows appear in: processes of a container's life, top to bottom
_STAGE_ORDER = ["runtime", "api", "helper", "stage0", "stage1", "init", "exec", "monitor", "program"]
_COLOURS = {"runtime": "#4c78a8", "stage0": "#4c78a8", "stage1": "#f58518", "init": "#54a24b",
            "exec": "#b279a2", "monitor": "#9d755d", "program": "#e45756"}

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:18px;margin:0 0 4px} .sub{color:#666;margin-bottom:12px}
.row{display:flex;align-items:center;border-top:1px solid #eee;min-height:28px}
.label{width:170px;flex:none;font-weight:600;font-size:13px}
.label small{display:block;font-weight:400;color:#777}
.lane{position:relative;flex:1;height:26px;background:#fafafa}
.bar{position:absolute;top:3px;height:20px;min-width:2px;border-radius:2px;cursor:pointer;opacity:.85}
.bar:hover,.bar.sel{opacity:1;outline:2px solid #000}
.instant{width:2px!important;background:#000!important}
.axis{position:relative;height:18px;margin-left:170px;font-size:11px;color:#777}
.axis span{position:absolute;transform:translateX(-50%)}
#details{margin-top:14px;padding:10px;border:1px solid #ccc;background:#fff;min-height:60px;white-space:pre-wrap;font:12px/1.4 monospace}
table{border-collapse:collapse;margin-top:14px;font-size:12px} td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
td.n{text-align:right}
"""

_JS = """
document.querySelectorAll('.bar').forEach(function(b){
  b.addEventListener('click',function(){
    document.querySelectorAll('.bar.sel').forEach(function(x){x.classList.remove('sel')});
    b.classList.add('sel');
    document.getElementById('details').textContent=b.getAttribute('data-details');
  });
});
"""


def _row_key(ev: dict) -> tuple:
    stage = ev.get("stage", "?")
    order = _STAGE_ORDER.index(stage) if stage in _STAGE_ORDER else len(_STAGE_ORDER)
    return (order, stage, ev.get("pid", 0))


def _details(ev: dict) -> str:
    lines = [f"{ev.get('action')}   ({ev.get('stage')}, pid {ev.get('pid')})"]
    if "ms" in ev:
        lines.append(f"took {ev['ms']:.3f} ms, ended at {ev['t']:.3f} ms")
    else:
        lines.append(f"at {ev['t']:.3f} ms")
    if ev.get("field"):
        lines.append(f"asked for by: {ev['field']}")
    for k, v in (ev.get("args") or {}).items():
        lines.append(f"  {k} = {v if isinstance(v, str) else json.dumps(v)}")
    return "\n".join(lines)


def _program_bars(events: list[dict]) -> list[dict]:
    """A bar for each program's life: from the init's execve to the exit the runtime reaped."""
    # The init sees itself as PID 1 of its namespace and the runtime reaps a host
    # PID, so an execve is paired with the first exit reaped after it.
    exits = sorted((e for e in events if e.get("action") == "exit"), key=lambda e: e["t"])
    bars = []
    for e in sorted(events, key=lambda e: e["t"]):
        if e.get("action") != "execve":
            continue
        args = e.get("args") or {}
        end = next((x for x in exits if x["t"] >= e["t"]), None)
        if end:
            exits.remove(end)
        t_end = end["t"] if end else max(x["t"] for x in events)
        status = (end.get("args") or {}).get("status") if end else "still running"
        bars.append({"t": t_end, "ms": max(t_end - e["t"], 0.001), "stage": "program",
                     "pid": e.get("pid"), "action": f"program: {' '.join(map(str, args.get('args', [])))}",
                     "field": "process.args", "args": {"exit status": status, "cwd": args.get("cwd")}})
    return bars


def render(events: list[dict], title: str = "pycontainer trace") -> str:
    """The HTML page for EVENTS (dicts as trace.py writes them in JSON mode)."""
    events = [e for e in events if isinstance(e, dict) and "t" in e]
    events += _program_bars(events)
    if not events:
        return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><p>No events.</p>"
    start = min(e["t"] - e.get("ms", 0) for e in events)
    end = max(e["t"] for e in events)
    span = max(end - start, 0.001)
    rows: dict[tuple, list[dict]] = {}
    for e in events:
        rows.setdefault(_row_key(e), []).append(e)
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>",
           f"<div class='sub'>{len(events)} steps in {span:.1f} ms, {len(rows)} processes. "
           "Click a bar for its details.</div>"]
    ticks = 10
    out.append("<div class='axis'>" + "".join(
        f"<span style='left:{i * 100 / ticks:.2f}%'>{i * span / ticks:.1f} ms</span>"
        for i in range(ticks + 1)) + "</div>")
    for (_, stage, pid), evs in sorted(rows.items()):
        colour = _COLOURS.get(stage, "#72b7b2")
        out.append(f"<div class='row' data-stage='{html.escape(stage)}'>"
                   f"<div class='label'>{html.escape(stage)}<small>pid {pid}</small></div><div class='lane'>")
        for e in evs:
            ms = e.get("ms")
            left = ((e["t"] - (ms or 0)) - start) / span * 100
            width = (ms or 0) / span * 100
            cls = "bar" if ms else "bar instant"
            tip = html.escape(_details(e), quote=True)
            out.append(f"<div class='{cls}' style='left:{left:.3f}%;width:{width:.3f}%;"
                       f"background:{colour}' title=\"{tip}\" data-details=\"{tip}\"></div>")
        out.append("</div></div>")
    out.append("<div id='details'>Click a bar to see the step: the system call or file, "
               "its arguments, the config field that asked for it, and how long it took.</div>")
    out.append("<table><tr><th>t (ms)</th><th>process</th><th>step</th><th>ms</th><th>config field</th></tr>")
    for e in sorted(events, key=lambda e: e["t"] - e.get("ms", 0)):
        out.append(f"<tr><td class='n'>{e['t'] - e.get('ms', 0) - start:.3f}</td>"
                   f"<td>{html.escape(str(e.get('stage')))}</td><td>{html.escape(str(e.get('action')))}</td>"
                   f"<td class='n'>{e.get('ms', 0):.3f}</td><td>{html.escape(e.get('field', ''))}</td></tr>")
    out.append(f"</table><script>{_JS}</script></body></html>")
    return "\n".join(out)
