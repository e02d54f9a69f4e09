"""Run the chart's Argo CD health check (``files/argocd-health.lua``) with a real Lua interpreter.

Argo CD hands the live object to the script as the global ``obj``. Here the object (a dict, e.g. a
TrainingRun read back from the API server) becomes a Lua table constructor, a small wrapper defines ``obj``,
runs the script and prints the returned ``status`` and ``message``.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
HEALTH_LUA = REPO_ROOT / "charts" / "training-hub" / "files" / "argocd-health.lua"
INSTALL_SCRIPT = HERE / "install_lua.sh"

#: What Argo CD accepts as a health status.
ARGO_STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})


@functools.cache
def lua_interpreters() -> tuple[str, ...]:
    """Paths of Lua 5.4 and Lua 5.1 (Debian's packages, installed once, idempotently)."""
    proc = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{INSTALL_SCRIPT} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    paths = tuple(proc.stdout.split())
    if len(paths) != 2:
        raise RuntimeError(f"{INSTALL_SCRIPT} printed {paths!r}, expected two interpreters")
    return paths


def lua_interpreter() -> str:
    """Path of Lua 5.4."""
    return lua_interpreters()[0]


def lua_string(text: str) -> str:
    """A Lua 5.1-compatible string literal: UTF-8 bytes, control bytes and quotes as decimal escapes."""
    out = []
    for byte in text.encode():
        if byte < 32 or byte in (34, 92, 127):
            out.append(f"\\{byte:03d}")
        else:
            out.append(chr(byte) if byte < 128 else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def to_lua(value: Any) -> str:
    """A Lua expression for a JSON-like value (``None`` keys are dropped, as Lua tables cannot hold nil)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no JSON form")
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, list | tuple):
        return "{" + ", ".join(to_lua(v) for v in value) + "}"
    if isinstance(value, dict):
        items = [f"[{lua_string(str(k))}] = {to_lua(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot express {type(value).__name__} in Lua")


#: Lua that builds ``env``: the globals of Argo CD's health-check interpreter. Argo CD v2
#: (``util/lua/lua.go`` ``VM.runLua``) creates its gopher-lua state with ``SkipOpenLibs`` unless the
#: customization sets ``useOpenLibs``, and opens the package, base and table libraries (plus a "safe" os
#: with time/date, left out here: the script needs none); strings have no methods there (the string
#: library is what gives them a metatable).
ARGO_ENVIRONMENT = """
local env = {}
for _, name in ipairs({"assert", "error", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget",
    "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
    "_VERSION", "load", "loadstring", "loadfile", "dofile", "require", "module"}) do
  env[name] = _G[name]
end
env.table, env.package, env._G = table, package, env
debug.setmetatable("", nil)
"""


def argo_health(obj: dict[str, Any], script: Path = HEALTH_LUA) -> tuple[str, str]:
    """Run the health check on ``obj`` with Lua 5.4 and Lua 5.1; return their common ``(status, message)``.

    Raises:
        RuntimeError: If the script fails (a Lua error) or the two Lua versions disagree.
    """
    wrapper = (
        "local write, path = io.write, "
        + json.dumps(str(script))
        + "\n"
        + ARGO_ENVIRONMENT
        + f"env.obj = {to_lua(obj)}\n"
        "local check\n"
        "if setfenv then check = assert(loadfile(path)); setfenv(check, env)\n"
        'else check = assert(loadfile(path, "t", env)) end\n'
        "local hs = check()\n"
        'write(tostring(hs.status), "\\n", tostring(hs.message or ""))\n'
    )
    answers = []
    for lua in lua_interpreters():
        proc = subprocess.run(
            [lua, "-"], input=wrapper, capture_output=True, text=True, timeout=30, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{lua} failed ({proc.returncode}): {proc.stderr.strip()}")
        status, _, message = proc.stdout.partition("\n")
        answers.append((status, message))
    if len(set(answers)) != 1:
        raise RuntimeError(f"Lua versions disagree: {answers}")
    return answers[0]
