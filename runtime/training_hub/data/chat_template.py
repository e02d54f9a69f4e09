"""A chat template compiled once, and what its syntax tree says about how it uses a message's content.

Two properties are read off the Jinja syntax tree (each only ever makes a faster exact path available;
a template without them takes the general path):

* **content only output** (:func:`content_only_output`): a message's ``content`` flows only into output
  text, never into a decision. Then the prefix renders of a role sequence can be done once on placeholder
  contents (the skeletons of :mod:`training_hub.data.chat_render`).
* **contents verbatim** (:func:`contents_verbatim`): in addition, the contents reach the output unchanged
  (no filter) and the template can see nothing of a message but its ``role`` and ``content``. For a
  conversation whose messages hold only those two keys, the rendering is then the skeleton of its role
  sequence with the contents put in: no render is needed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# Jinja nodes through which a message's content may flow and still only be output.
_OUTPUT_CHAIN = ("Add", "Concat", "Output", "Filter")
# Through which it flows and reaches the output unchanged (strings only: the contents are validated strings).
_VERBATIM_CHAIN = ("Add", "Concat", "Output")
# The keys of a message a verbatim template may read.
_MESSAGE_KEYS = ("role", "content")
# Attributes of `loop` that hand out other items of the loop (whole messages).
_LOOP_ITEMS = ("previtem", "nextitem")


def compile_template(template: str) -> Any:
    """The template compiled as transformers compiles chat templates (same environment and globals)."""
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template

        return _compile_jinja_template(template)
    except ImportError:  # pragma: no cover - older transformers
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise jinja2.exceptions.TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(template)


def _parse(template: str) -> tuple[Any, dict[int, Any]] | None:
    """The template's syntax tree and every node's parent (by id); None if it does not parse."""
    try:
        import jinja2
    except ImportError:  # pragma: no cover - transformers depends on jinja2
        return None
    try:
        tree = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).parse(template)
    except Exception:
        return None
    parents: dict[int, Any] = {}
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        for child in node.iter_child_nodes():
            parents[id(child)] = node
            stack.append(child)
    return tree, parents


def _key(node: Any) -> str | None:
    """The constant key a `Getattr` / `Getitem` node reads (`x.key`, `x['key']`), else None."""
    from jinja2 import nodes

    if isinstance(node, nodes.Getattr):
        return str(node.attr)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return str(node.arg.value) if isinstance(node.arg.value, str) else None
    return None


def _contents_flow_only_to_output(tree: Any, parents: dict[int, Any], chain: tuple[str, ...]) -> bool:
    """Every read of a `content` key sits in an output expression built only from `chain` node types."""
    from jinja2 import nodes

    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if _key(node) != "content":
            continue
        cur = node
        while True:
            parent = parents.get(id(cur))
            if parent is None or type(parent).__name__ not in chain:
                return False
            if isinstance(parent, nodes.Filter) and parent.node is not cur:
                return False  # the content is a filter's argument
            if isinstance(parent, nodes.Output):
                break
            cur = parent
    return True


@lru_cache(maxsize=16)
def content_only_output(template: str) -> bool:
    """True if the template uses a message's `content` only as output text (never to decide anything).

    Every `x.content` / `x['content']` must sit in an output expression built from `+`, `~` and filters
    on the content itself. Conditions, comparisons, assignments, macros, loops over the content and so on
    make the template ineligible for skeletons (the general path is used).
    """
    parsed = _parse(template)
    return parsed is not None and _contents_flow_only_to_output(*parsed, _OUTPUT_CHAIN)


def _messages_seen_only_by_role_and_content(tree: Any, parents: dict[int, Any]) -> bool:
    """The template reads a message only through its `role` and `content` keys.

    `messages` may be looped over (whole, or a constant slice of it), indexed by a constant, or measured
    with `length`; a loop variable over it (and `messages[i]`) may only be read by those two keys. Any
    other use (a filter, a call, an assignment, `loop.previtem`, ...) could see more of a message.
    """
    from jinja2 import nodes

    loop_vars: set[str] = set()
    loop: Any
    for loop in tree.find_all(nodes.For):
        if not isinstance(loop.target, nodes.Name):
            return False
        source = loop.iter
        if isinstance(source, nodes.Getitem) and isinstance(source.arg, nodes.Slice):
            source = source.node
        if isinstance(source, nodes.Name) and source.name == "messages":
            loop_vars.add(loop.target.name)
    if "messages" in loop_vars:
        return False
    for node in tree.find_all(nodes.Getattr):
        if node.attr in _LOOP_ITEMS:
            return False
    name: Any
    for name in tree.find_all(nodes.Name):
        parent: Any = parents.get(id(name))
        if name.ctx != "load":
            is_loop_target = (
                name.name in loop_vars and isinstance(parent, nodes.For) and parent.target is name
            )
            if name.name in {"messages", *loop_vars} and not is_loop_target:
                return False  # assigned to: the analysis below no longer holds
            continue
        if name.name in loop_vars:
            if _key(parent) not in _MESSAGE_KEYS or parent.node is not name:
                return False
        elif name.name == "messages":
            if isinstance(parent, nodes.For) and parent.iter is name:
                continue
            if isinstance(parent, nodes.Getitem) and parent.node is name:
                if isinstance(parent.arg, nodes.Slice):
                    grandparent = parents.get(id(parent))
                    if not (isinstance(grandparent, nodes.For) and grandparent.iter is parent):
                        return False
                    continue
                if not (isinstance(parent.arg, nodes.Const) and isinstance(parent.arg.value, int)):
                    return False
                item_parent: Any = parents.get(id(parent))
                if _key(item_parent) not in _MESSAGE_KEYS or item_parent.node is not parent:
                    return False
                continue
            if isinstance(parent, nodes.Filter) and parent.node is name and parent.name == "length":
                continue
            return False
    return True


@lru_cache(maxsize=16)
def contents_verbatim(template: str) -> bool:
    """True if the rendering of messages holding only `role` and `content` is fixed by the role sequence,
    with every content copied into it unchanged.

    The contents flow only into output through `+` and `~` (no filter, no condition), and the template
    sees nothing else of a message than its role (see :func:`_messages_seen_only_by_role_and_content`).
    """
    parsed = _parse(template)
    if parsed is None:
        return False
    tree, parents = parsed
    return _contents_flow_only_to_output(tree, parents, _VERBATIM_CHAIN) and (
        _messages_seen_only_by_role_and_content(tree, parents)
    )
