"""Which names are module globals and which are closure cells, per scope of a module.

The rewriter needs CPython's own answer (a name's scope decides which
bytecode reads it), so this pairs each scope node of the AST with the
``symtable`` table the compiler builds for it.  Tables carry no columns, so
the pairing walks the AST in the compiler's visiting order and checks each
pair's name and line; a scope that cannot be paired for certain is marked
unknown, and the rewriter then leaves its names alone (it still instruments
attributes and items, which need no scope facts).
"""

from __future__ import annotations

import ast
import symtable
from typing import Dict, Optional, Set

from racedet.env import PYBEHAVIOR

_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp)
SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.GeneratorExp) + _COMPS


def is_scope(node: ast.AST) -> bool:
    """Does ``node`` open a symbol table of its own on this Python?"""
    if isinstance(node, _COMPS):
        return not PYBEHAVIOR.inlined_comprehensions
    return isinstance(node, SCOPE_NODES)


def _table_name(node: ast.AST) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    return {
        ast.Lambda: "lambda", ast.GeneratorExp: "genexpr", ast.ListComp: "listcomp",
        ast.SetComp: "setcomp", ast.DictComp: "dictcomp",
    }[type(node)]


def _child_scopes(node: ast.AST, out: list) -> None:
    """Append the scopes nested directly in ``node``'s body, in the compiler's order."""
    for child in _body_nodes(node):
        _collect(child, out)


def _body_nodes(node: ast.AST) -> list:
    if isinstance(node, ast.Module):
        return list(node.body)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [node.args] + list(node.body)
    if isinstance(node, ast.Lambda):
        return [node.args, node.body]
    if isinstance(node, ast.ClassDef):
        return list(node.body)
    if isinstance(node, (ast.GeneratorExp,) + _COMPS):
        gens = node.generators
        out: list = [gens[0].target] + list(gens[0].ifs)
        for g in gens[1:]:
            out += [g.target, g.iter] + list(g.ifs)
        if isinstance(node, ast.DictComp):
            out += [node.value, node.key]
        else:
            out.append(node.elt)
        return out
    return list(ast.iter_child_nodes(node))


def _collect(node: ast.AST, out: list) -> None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        a = node.args
        for d in a.defaults:
            _collect(d, out)
        for d in a.kw_defaults:
            if d is not None:
                _collect(d, out)
        for d in node.decorator_list:
            _collect(d, out)
        out.append(node)
        return
    if isinstance(node, ast.Lambda):
        for d in node.args.defaults:
            _collect(d, out)
        for d in node.args.kw_defaults:
            if d is not None:
                _collect(d, out)
        out.append(node)
        return
    if isinstance(node, ast.ClassDef):
        for d in node.bases:
            _collect(d, out)
        for k in node.keywords:
            _collect(k, out)
        for d in node.decorator_list:
            _collect(d, out)
        out.append(node)
        return
    if isinstance(node, ast.arguments):
        return  # annotations and defaults were visited with the def
    if is_scope(node):
        _collect(node.generators[0].iter, out)  # type: ignore[attr-defined]
        out.append(node)
        return
    for child in ast.iter_child_nodes(node):
        _collect(child, out)


class Scopes:
    """The symbol table of every scope node of one module (None where unknown)."""

    def __init__(self, tree: ast.Module, source: str, filename: str) -> None:
        self.tables: Dict[int, Optional[symtable.SymbolTable]] = {}
        self.cells: Dict[int, Set[str]] = {}
        try:
            top = symtable.symtable(source, filename, "exec")
        except SyntaxError:
            top = None
        self.top = top
        if top is not None:
            self._pair(tree, top)

    def _pair(self, node: ast.AST, table: symtable.SymbolTable) -> None:
        self.tables[id(node)] = table
        nodes: list = []
        _child_scopes(node, nodes)
        children = table.get_children()
        if len(nodes) != len(children) or any(
            _table_name(n) != t.get_name() or n.lineno != t.get_lineno()
            for n, t in zip(nodes, children)
        ):
            for n in nodes:
                self._unknown(n)
            return
        for n, t in zip(nodes, children):
            self._pair(n, t)
        if table.get_type() == "function":
            self.cells[id(node)] = _cells_of(table)

    def _unknown(self, node: ast.AST) -> None:
        for sub in ast.walk(node):
            if is_scope(sub):
                self.tables[id(sub)] = None

    def table(self, node: ast.AST) -> Optional[symtable.SymbolTable]:
        return self.tables.get(id(node))


def _cells_of(table: symtable.SymbolTable) -> Set[str]:
    """Names local to function ``table`` that some nested scope closes over."""
    local = {s.get_name() for s in table.get_symbols() if s.is_local()}
    found: Set[str] = set()

    def walk(t: symtable.SymbolTable, shadowed: Set[str]) -> None:
        for s in t.get_symbols():
            n = s.get_name()
            if n in local and n not in shadowed and s.is_free():
                found.add(n)
        inner = shadowed
        if t.get_type() == "function":
            inner = shadowed | {s.get_name() for s in t.get_symbols() if s.is_local()}
        for c in t.get_children():
            walk(c, inner)

    for c in table.get_children():
        walk(c, set())
    return found


def module_variables(tree: ast.Module) -> Set[str]:
    """Module globals that may change after import: assigned by plain statements at
    module level, or declared ``global`` in some function.  Names bound only by
    ``def``, ``class`` and ``import`` are left out: they are written once, at import."""
    names: Set[str] = set()

    def targets(t: ast.AST) -> None:
        for n in ast.walk(t):
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                names.add(n.id)

    def top(stmts: list) -> None:
        for s in stmts:
            if isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                for t in (s.targets if isinstance(s, ast.Assign) else [s.target]):
                    targets(t)
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                targets(s.target)
                top(s.body)
                top(s.orelse)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for item in s.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                top(s.body)
            elif isinstance(s, ast.Delete):
                for t in s.targets:
                    targets(t)
            elif isinstance(s, (ast.If, ast.While)):
                top(s.body)
                top(s.orelse)
            elif isinstance(s, ast.Try) or type(s).__name__ == "TryStar":
                top(s.body)
                top(s.orelse)
                top(s.finalbody)
                for h in s.handlers:  # type: ignore[attr-defined]
                    top(h.body)

    top(tree.body)
    for n in ast.walk(tree):
        if isinstance(n, ast.Global):
            names.update(n.names)
        elif isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
    return names


def module_imports(tree: ast.Module) -> Set[str]:
    """Names bound at module level by ``import`` statements only."""
    names: Set[str] = set()
    for s in tree.body:
        if isinstance(s, ast.Import):
            for a in s.names:
                names.add(a.asname or a.name.split(".")[0])
        elif isinstance(s, ast.ImportFrom):
            for a in s.names:
                names.add(a.asname or a.name)
    return names
