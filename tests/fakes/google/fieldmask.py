"""Google field masks: `a,b.c,d(e,f/g)` -> a tree, select a JSON answer by it, apply updates."""

from __future__ import annotations

import copy
from typing import Any

Tree = dict[str, "Tree | None"]  # None: the whole field


class MaskError(ValueError):
    """A field mask that does not parse."""


def parse(mask: str) -> Tree:
    """Parse a field mask; '.' and '/' both separate nested names, '*' means every field.

    >>> parse("a,b.c,d(e,f/g)")
    {'a': None, 'b': {'c': None}, 'd': {'e': None, 'f': {'g': None}}}
    """
    tree, rest = _items(mask.replace(" ", ""), 0)
    if rest != len(mask.replace(" ", "")):
        raise MaskError(f"Invalid field mask: {mask}")
    return tree


def _items(text: str, i: int) -> tuple[Tree, int]:
    tree: Tree = {}
    while i < len(text):
        j = i
        while j < len(text) and text[j] not in ",()":
            j += 1
        path = [p for p in text[i:j].replace("/", ".").split(".")]
        if not path or any(not p for p in path):
            raise MaskError(f"Invalid field mask near {text[i:]!r}")
        sub: Tree | None = None
        i = j
        if i < len(text) and text[i] == "(":
            sub, i = _items(text, i + 1)
            if i >= len(text) or text[i] != ")":
                raise MaskError("Unbalanced parentheses in field mask")
            i += 1
        _merge(tree, path, sub)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == ")":
            return tree, i
    return tree, i


def _merge(tree: Tree, path: list[str], sub: Tree | None) -> None:
    node = tree
    for name in path[:-1]:
        nxt = node.get(name, {})
        if nxt is None:
            return  # already the whole field
        node[name] = nxt
        node = nxt
    last = path[-1]
    if last in node and node[last] is None:
        return
    if sub is None or last not in node:
        node[last] = sub
    else:
        existing = node[last]
        assert existing is not None
        for k, v in sub.items():
            _merge(existing, [k], v)


def paths(tree: Tree, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf path of a mask: what an update with this mask sets (or clears)."""
    out: list[tuple[str, ...]] = []
    for name, sub in tree.items():
        if sub is None:
            out.append((*prefix, name))
        else:
            out += paths(sub, (*prefix, name))
    return out


def mentions(tree: Tree | None, *path: str) -> bool:
    """Whether the mask asks for anything at or under `path` (None: everything is asked)."""
    node: Tree | None = tree
    for name in path:
        if node is None:
            return True
        if "*" in node:
            return True
        if name not in node:
            return False
        node = node[name]
    return True


def select(value: Any, tree: Tree | None) -> Any:
    """Keep only what the mask names (lists are selected element by element)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [select(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    if "*" in tree:
        return value
    return {k: select(value[k], sub) for k, sub in tree.items() if k in value}


Update = list[tuple[tuple[str, ...], Any]]


def compile_update(source: dict[str, Any], tree: Tree) -> Update:
    """What an update with this mask sets: (path, value or None to clear) pairs."""
    out: Update = []
    for path in paths(tree):
        if path == ("*",):
            out.append((path, copy.deepcopy(source)))
            continue
        src: Any = source
        for name in path:
            src = src.get(name) if isinstance(src, dict) else None
            if src is None:
                break
        out.append((path, None if src is None else copy.deepcopy(src)))
    return out


def apply_compiled(target: dict[str, Any], update: Update) -> None:
    """Apply a compiled update; nested objects of target are copied, never changed in place
    (so a shallow copy of a spreadsheet's cells is a safe snapshot: batchUpdate relies on it),
    and values are shared between the cells one update sets."""
    for path, value in update:
        if path == ("*",):
            target.clear()
            target.update(value)
        else:
            _set_path(target, path, value)


def apply_update(target: dict[str, Any], source: dict[str, Any], tree: Tree) -> None:
    """Set every masked field of target from source; a masked field source lacks is cleared."""
    apply_compiled(target, compile_update(source, tree))


def _set_path(node: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set (or, with None, remove) node[path]; copies the dicts on the way, drops empty ones."""
    name = path[0]
    if len(path) == 1:
        if value is None:
            node.pop(name, None)
        else:
            node[name] = value
        return
    child = node.get(name)
    if not isinstance(child, dict):
        if value is None:
            return
        child = {}
    child = dict(child)
    _set_path(child, path[1:], value)
    if child:
        node[name] = child
    else:
        node.pop(name, None)
