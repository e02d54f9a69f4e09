"""A small Dockerfile reader for the image tests (there is no Docker on the test machines).

It follows the Dockerfile reference closely enough for our two files: comments and parser directives,
backslash line continuations, JSON (exec) and shell forms, ``ARG`` defaults and ``${VAR}`` substitution in
``FROM``, multi-stage builds.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

KNOWN = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
}  # fmt: skip


class DockerfileError(ValueError):
    """The file is not a Dockerfile we can read."""


@dataclass
class Instruction:
    """One instruction: its keyword, the raw argument text and the line it starts on."""

    keyword: str
    value: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, or None for the shell form."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DockerfileError(f"line {self.line}: {self.keyword} is not valid JSON: {exc}") from None
        if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
            raise DockerfileError(f"line {self.line}: {self.keyword} must be a JSON array of strings")
        return parsed

    def flags_and_args(self) -> tuple[dict[str, str], list[str]]:
        """``--flag=value`` options and the remaining (shell-split) arguments."""
        flags: dict[str, str] = {}
        args: list[str] = []
        for tok in shlex.split(self.value):
            if tok.startswith("--") and not args:
                key, _, val = tok[2:].partition("=")
                flags[key] = val
            else:
                args.append(tok)
        return flags, args


@dataclass
class Stage:
    """A build stage: its base image, optional name and instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """``ENV key=value`` pairs of the stage (later ones win)."""
        out: dict[str, str] = {}
        for ins in self.all("ENV"):
            for tok in shlex.split(ins.value):
                if "=" not in tok:
                    raise DockerfileError(f"line {ins.line}: use ENV key=value")
                k, _, v = tok.partition("=")
                out[k] = v
        return out


@dataclass
class Dockerfile:
    """A parsed Dockerfile."""

    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def arg_defaults(self) -> dict[str, str]:
        """Defaults of every ARG, global or in a stage."""
        out = dict(self.global_args)
        for stage in self.stages:
            for ins in stage.all("ARG"):
                name, _, default = ins.value.strip().partition("=")
                out.setdefault(name, default)
                if default:
                    out[name] = default
        return out


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines; drop comments and blank lines. Returns (first line number, text)."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue  # comments inside a continued instruction are removed
        if not buf:
            start = n
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        out.append((start, " ".join(part.strip() for part in buf)))
        buf = []
    if buf:
        raise DockerfileError(f"line {start}: the file ends inside a continued instruction")
    return out


def _substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), text)


def parse(path: Path) -> Dockerfile:
    """Parse a Dockerfile.

    Raises:
        DockerfileError: On an unknown instruction, an instruction before FROM (other than ARG), or no FROM.
    """
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line_no, text in logical_lines(path.read_text()):
        keyword, _, value = text.partition(" ")
        keyword = keyword.upper()
        if keyword not in KNOWN:
            raise DockerfileError(f"{path}:{line_no}: unknown instruction {keyword}")
        if keyword == "FROM":
            parts = _substitute(value, global_args).split()
            parts = [p for p in parts if not p.startswith("--platform")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
            continue
        if not stages:
            if keyword != "ARG":
                raise DockerfileError(f"{path}:{line_no}: {keyword} before the first FROM")
            name, _, default = value.strip().partition("=")
            global_args[name] = default
            continue
        stages[-1].instructions.append(Instruction(keyword, value, line_no))
    if not stages:
        raise DockerfileError(f"{path}: no FROM")
    return Dockerfile(path=path, global_args=global_args, stages=stages)
