"""Stages of a multi-stage Containerfile, and which of them a ``--target`` needs.

Each ``FROM`` starts a stage, named by ``AS name`` and numbered from 0.
ARGs before the first FROM are global: usable in FROM lines (and, once
re-declared with ``ARG NAME``, inside a stage). A stage depends on the stage
its FROM names and on stages its ``COPY --from`` names; only the target
(default: the last stage) and what it depends on are built, in file order.

Read: Dockerfile reference, "Multi-stage builds", "Understand how ARG and
FROM interact".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import BuildError
from . import containerfile as cf


@dataclass
class Stage:
    index: int
    name: str | None
    base: str                      # FROM's image (substituted), or a stage name/number
    base_stage: int | None
    from_ins: cf.Instruction
    instructions: list = field(default_factory=list)
    needed: bool = False


def plan_stages(ins: list, target: str | None, build_args: dict) -> tuple[list[Stage], dict]:
    global_args: dict = {}
    stages: list[Stage] = []
    names: dict[str, int] = {}
    for i in ins:
        if not stages:
            if i.keyword == "ARG":
                for k, v in cf.key_values(i, global_args):
                    global_args[k] = build_args.get(k, v if v is not None else None)
                    if global_args[k] is None:
                        del global_args[k]
                continue
            if i.keyword != "FROM":
                raise BuildError(f"{i.where}: {i.keyword} before FROM: a Containerfile must "
                                 "start with FROM (after parser directives, comments and ARGs)")
        if i.keyword == "FROM":
            unknown = set(i.flags) - {"platform"}
            if unknown:
                raise i.error(f"unknown flag --{sorted(unknown)[0]}")
            ws = cf.words(i.args, global_args, i.escape)
            if len(ws) == 3 and ws[1].lower() == "as":
                name = ws[2].lower()
            elif len(ws) == 1:
                name = None
            else:
                raise i.error("wants IMAGE [AS NAME]")
            if not ws[0]:
                raise i.error("names an empty image (an ARG without a value?)")
            base = ws[0]
            base_stage = names.get(base.lower())
            if base_stage is None and base.isdigit() and int(base) < len(stages):
                base_stage = int(base)
            s = Stage(len(stages), name, base, base_stage, i)
            if name:
                if name in names:
                    raise i.error(f"duplicate stage name {name!r}")
                names[name] = s.index
            stages.append(s)
            continue
        stages[-1].instructions.append(i)
    if not stages:
        raise BuildError("the Containerfile has no FROM instruction")
    if target is None:
        want = len(stages) - 1
    elif target.lower() in names:
        want = names[target.lower()]
    else:
        raise BuildError(f"--target {target!r}: no stage of that name (stages: "
                         f"{', '.join(s.name or str(s.index) for s in stages)})")
    _mark(stages, want, names, global_args, set())
    return stages[:want + 1], global_args


def _mark(stages, idx: int, names: dict, global_args: dict, seen: set) -> None:
    if idx in seen:
        return
    seen.add(idx)
    s = stages[idx]
    s.needed = True
    if s.base_stage is not None:
        _mark(stages, s.base_stage, names, global_args, seen)
    for i in s.instructions:
        for ref in _from_refs(i):
            _depend(stages, idx, i, cf.word(ref, global_args, i.escape), names, global_args, seen)


def _from_refs(i) -> list[str]:
    """The stages or images an instruction reads: COPY --from, RUN --mount=...,from=."""
    if i.keyword == "COPY":
        return [i.flags["from"]] if i.flags.get("from") else []
    if i.keyword == "RUN":
        return [part.split("=", 1)[1] for m in i.flags.get("mount") or [] if m
                for part in m.split(",") if part.strip().lower().startswith("from=")]
    return []


def _depend(stages, idx, i, ref: str, names: dict, global_args: dict, seen: set) -> None:
    """A stage ``ref`` names (by name or number) is needed too; an image name is not a stage."""
    dep = names.get(ref.lower())
    if dep is None and ref.isdigit():
        dep = int(ref)
        if dep >= idx:
            raise i.error(f"--from={ref}: stage {dep} is not before this one")
    if dep is not None:
        if dep >= len(stages) or dep == idx:
            raise i.error(f"--from={ref}: no such earlier stage")
        _mark(stages, dep, names, global_args, seen)
