"""The AST rewriter: route every shared-memory access of user code through the access core.

The rewrite never moves the real access out of the user's frame: hooks take
the object and hand it back, so ``self.n += 1`` becomes
``@rmw_attr(self, 'n', SITE).n += 1`` and an exception, its traceback and its
line numbers are exactly those of the original code.  Every new node copies
the position of the node it wraps.  Names starting with ``@`` cannot clash
with user names (pytest's assertion rewriter uses the same trick).

What is rewritten (see the README's "What counts as a race"):

* ``E.a`` loads, stores, deletes, augmented assignments;
* ``E[K]`` likewise, per key: ``E[@rd_key(<E again>, K, SITE)]``, where the
  hook returns the key and ``<E again>`` is a copy of the value already on
  the stack (:mod:`racedet.instrument.link`), so ``E`` and ``K`` are each
  evaluated once, in Python's order;
* module globals that can change after import, and closure cells;
* container method calls (``lst.append``), ``len()``/``list()``/... and
  ``for``/``in`` over containers, as reads or atomic writes of the contents;
  iteration reads what it yields (a dict's keys, a list's values), so it is
  ``rd_iter``, while ``dict(d)`` and ``{**d}`` read the values (``rd_whole``).

Module-level code is rewritten only for the main script: an imported
module's top level runs under the import lock, before its users.

Hooks are written as names no program can spell (``@racedet_rd_attr``);
:func:`racedet.instrument.link.link` resolves them in the compiled code, so
the program's namespaces never hold them.  Where such a name compiles to a
single code unit, it is wrapped in unary ``+`` operators that give the
linker room (see there).
"""

from __future__ import annotations

import ast
import sys
from typing import Any, List, Optional

from racedet.access_py import METHOD_KINDS, STORE_ONE
from racedet.env import PYBEHAVIOR
from racedet.instrument import link
from racedet.instrument.scopes import Scopes, is_scope, module_imports, module_variables

PREFIX = link.PREFIX

#: Builtins whose positional arguments they read in full.
_WHOLE_READERS = {
    "len", "list", "tuple", "set", "frozenset", "sorted", "sum", "min", "max", "any",
    "all", "enumerate", "dict", "reversed", "iter", "zip", "map", "filter",
}
#: Of those, the ones that read the values of a mapping, not only what iterating it yields.
_VALUE_READERS = {"dict"}
_ATTR_BUILTINS = {"getattr": "rd_attr", "hasattr": "rd_attr", "setattr": "wr_attr", "delattr": "wr_attr"}


class _Scope:
    __slots__ = ("node", "kind", "table", "cells", "qualname", "func", "in_comp", "parent")

    def __init__(self, node, kind, table, cells, qualname, func, parent, in_comp=False):
        self.node = node
        self.kind = kind            # module | function | class | lambda | comprehension
        self.table = table
        self.cells = cells or set()
        self.qualname = qualname
        self.func = func            # the name a traceback shows for this frame
        self.in_comp = in_comp
        self.parent = parent


class Instrumenter(ast.NodeTransformer):
    """Rewrite one module.  ``toplevel`` says whether module-level code is instrumented."""

    def __init__(self, tree: ast.Module, source: str, filename: str, toplevel: bool) -> None:
        self.filename = filename
        self.toplevel = toplevel
        self.scopes = Scopes(tree, source, filename)
        self.module_vars = module_variables(tree)
        self.module_imports = module_imports(tree) - self.module_vars
        self.scope = _Scope(tree, "module", self.scopes.table(tree), set(), "", "<module>", None)
        self.pre: List[ast.stmt] = []
        self.post: List[ast.stmt] = []

    # -- helpers ---------------------------------------------------------

    def _active(self) -> bool:
        """Is code at this point instrumented at all?"""
        s = self.scope
        while s is not None:
            if s.kind in ("function", "lambda", "comprehension"):
                return True
            if s.kind == "module":
                return self.toplevel
            s = s.parent
        return self.toplevel  # pragma: no cover

    def _site(self, node: ast.AST) -> ast.Constant:
        s = self.scope
        return ast.Constant((self.filename, node.lineno, s.func, s.qualname or s.func))

    def _one_unit_names(self) -> bool:
        """Does a name load here take one code unit (LOAD_NAME, or any load on 3.10)?"""
        return not PYBEHAVIOR.inline_caches or self.scope.kind in ("module", "class")

    def _marker(self, name: str, pads: int) -> ast.AST:
        node: ast.AST = ast.Name(name, ast.Load())
        for _ in range(pads):
            node = ast.UnaryOp(ast.UAdd(), node)
        return node

    def _hook(self, name: str, args: list, like: ast.AST) -> ast.Call:
        func = self._marker(PREFIX + name, 1 if self._one_unit_names() else 0)
        return _locate(ast.Call(func, args, []), like)

    def _module_ref(self) -> ast.AST:
        """The module a global belongs to, as the hooks key it: its ``__name__``, read from
        the module's namespace whatever the scope holds (see link.GLOBALS)."""
        pads = link.GLOBAL_UNITS if PYBEHAVIOR.inline_caches and self.scope.kind in ("module", "class") else 0
        return self._marker(link.GLOBALS, pads)

    def _dup(self) -> ast.AST:
        """The value below the hook on the stack (a subscript's container), see link.DUP."""
        return self._marker(link.DUP, 0 if PYBEHAVIOR.inline_caches else 2)

    def _or_name(self, hook: ast.Call, name: ast.Name) -> ast.AST:
        return _locate(ast.BoolOp(ast.Or(), [hook, name]), name)

    def _name_kind(self, name: str) -> Optional[str]:
        """'global', 'cell' or None (local, builtin, class-level or unknown)."""
        s = self.scope
        t = s.table
        if t is None:
            return None
        if s.kind == "module":
            return "global" if self.toplevel and name in self.module_vars else None
        try:
            sym = t.lookup(name)
        except KeyError:
            return None
        if s.kind == "class":
            if sym.is_declared_global() and name in self.module_vars:
                return "global"
            return None
        if sym.is_global():
            return "global" if name in self.module_vars else None
        if s.kind == "function" and not s.in_comp and (sym.is_free() or name in s.cells):
            return "cell"
        return None

    def _is_builtin(self, name: str) -> bool:
        s = self.scope
        if s.table is None:
            return False
        if name in self.module_vars or name in self.module_imports:
            return False
        try:
            sym = s.table.lookup(name)
        except KeyError:
            return s.kind == "module"
        if s.kind == "module":
            return not sym.is_assigned() and not sym.is_imported()
        return sym.is_global() and not sym.is_declared_global() and (
            self.scopes.top is None or not _defined_at_top(self.scopes.top, name))

    def _cell_desc(self, name: str) -> str:
        s = self.scope
        while s is not None:
            if s.kind == "function" and s.table is not None:
                try:
                    sym = s.table.lookup(name)
                except KeyError:
                    sym = None
                if sym is not None and sym.is_local():
                    return f"cell '{name}' of {s.qualname}"
            s = s.parent
        return f"cell '{name}'"

    def _cell_var(self, name: str) -> ast.AST:
        """``cellof(lambda: name)``: the very cell ``name`` lives in (the lambda's one cell).

        Made at each access rather than kept in a local, so ``locals()``,
        debuggers and tracebacks with locals see only the program's names,
        and by a hook rather than ``.__closure__[0]``, so ``co_names`` holds
        only the program's names (``inspect.getclosurevars``).  (Only used
        where CPython's symbol table says ``name`` is a cell.)
        """
        fn = ast.Lambda(_no_args(), ast.Name(name, ast.Load()))
        return ast.Call(self._marker(PREFIX + "cellof", 1 if self._one_unit_names() else 0), [fn], [])

    def _name_event(self, name: ast.Name, hook: str) -> Optional[ast.stmt]:
        """A statement recording a global/cell write (or read-modify-write) of ``name``."""
        if not self._active():
            return None
        kind = self._name_kind(name.id)
        site = self._site(name)
        if kind == "global":
            call = self._hook(hook + "_global", [self._module_ref(), ast.Constant(name.id), site], name)
        elif kind == "cell":
            call = self._hook(hook + "_cell", [self._cell_var(name.id), ast.Constant(self._cell_desc(name.id)), site], name)
        else:
            return None
        return _locate(ast.Expr(call), name)

    def _store_events(self, target: ast.AST, hook: str = "wr") -> List[ast.stmt]:
        out = []
        for n in _target_names(target):
            st = self._name_event(n, hook)
            if st is not None:
                out.append(st)
        return out

    # -- scopes ----------------------------------------------------------

    def _enter(self, node: ast.AST, kind: str) -> _Scope:
        parent = self.scope
        table = self.scopes.table(node) if is_scope(node) else parent.table
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Lambda):
            name = "<lambda>"
        else:
            name = "<genexpr>" if isinstance(node, ast.GeneratorExp) else "<" + type(node).__name__.lower() + ">"
        if kind == "comprehension" and not is_scope(node):
            # Inlined comprehension (3.12+): it runs in the enclosing frame.
            s = _Scope(node, parent.kind, table, parent.cells, parent.qualname, parent.func, parent, True)
            self.scope = s
            return s
        if parent.kind == "module":
            qual = name
        elif parent.kind == "class":
            qual = f"{parent.qualname}.{name}"
        else:
            qual = f"{parent.qualname}.<locals>.{name}"
        cells = self.scopes.cells.get(id(node), set()) if kind == "function" else set()
        s = _Scope(node, kind, table, cells, qual, name, parent, parent.in_comp or kind == "comprehension")
        self.scope = s
        return s

    def _leave(self, s: _Scope) -> None:
        self.scope = s.parent

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.args = self._visit_defaults(node.args)
        s = self._enter(node, "function")
        node.body = self._stmts(node.body)
        if s.parent.kind == "class" and node.name == "__del__" and isinstance(node, ast.FunctionDef):
            self._finalizer_entry(node)
        self._leave(s)
        return node

    def _finalizer_entry(self, node: ast.FunctionDef) -> None:
        """``__del__`` first tells the engine that its ``self`` is garbage (see racedet.finalize)."""
        params = node.args.posonlyargs + node.args.args
        at = 1 if _is_docstring(node.body[0]) else 0
        if not params or at == len(node.body) or node.decorator_list:
            return   # nothing runs but a docstring (which must stay first); a decorated one may be anything
        first = node.body[at]
        call = self._hook("finalizing", [ast.Name(params[0].arg, ast.Load())], first)
        node.body.insert(at, _locate(ast.Expr(call), first))

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _visit_defaults(self, args: ast.arguments) -> ast.arguments:
        args.defaults = [self.visit(d) for d in args.defaults]
        args.kw_defaults = [self.visit(d) if d is not None else None for d in args.kw_defaults]
        return args

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node.args = self._visit_defaults(node.args)
        s = self._enter(node, "lambda")
        node.body = self.visit(node.body)
        self._leave(s)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(k) for k in node.keywords]
        s = self._enter(node, "class")
        node.body = self._stmts(node.body)
        self._leave(s)
        return node

    def _comprehension(self, node: Any) -> ast.AST:
        gens = node.generators
        gens[0].iter = self._whole(self.visit(gens[0].iter))
        s = self._enter(node, "comprehension")
        for i, g in enumerate(gens):
            if i:
                g.iter = self._whole(self.visit(g.iter))
            g.ifs = [self.visit(x) for x in g.ifs]
        if isinstance(node, ast.DictComp):
            node.key = self.visit(node.key)
            node.value = self.visit(node.value)
        else:
            node.elt = self.visit(node.elt)
        self._leave(s)
        return node

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    # -- statements ------------------------------------------------------

    def _stmts(self, stmts: List[ast.stmt]) -> List[ast.stmt]:
        out: List[ast.stmt] = []
        for st in stmts:
            saved = self.pre, self.post
            self.pre, self.post = [], []
            new = self.visit(st)
            out.extend(self.pre)
            if isinstance(new, list):
                out.extend(new)
            elif new is not None:
                out.append(new)
            out.extend(self.post)
            self.pre, self.post = saved
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field, old in ast.iter_fields(node):
            if isinstance(old, list):
                if old and isinstance(old[0], ast.stmt):
                    setattr(node, field, self._stmts(old))
                else:
                    new_values = []
                    for v in old:
                        if isinstance(v, ast.AST):
                            v = self.visit(v)
                            if v is None:
                                continue
                        new_values.append(v)
                    old[:] = new_values
            elif isinstance(old, ast.AST):
                new = self.visit(old)
                if new is None:
                    delattr(node, field)
                else:
                    setattr(node, field, new)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._stmts(node.body)
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        node.value = self.visit(node.value)
        node.targets = [self.visit(t) for t in node.targets]
        for t in node.targets:
            self.post.extend(self._store_events(t))
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
            node.target = self.visit(node.target)
            self.post.extend(self._store_events(node.target))
        return node  # annotations are never instrumented

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        node.value = self.visit(node.value)
        t = node.target
        if isinstance(t, ast.Name):
            st = self._name_event(t, "rmw")
            if st is not None:
                self.pre.append(st)
        elif isinstance(t, ast.Attribute):
            t.value = self.visit(t.value)
            if self._active() and not _skip_receiver(t.value):
                t.value = self._hook("rmw_attr", [t.value, ast.Constant(t.attr), self._site(t)], t.value)
        elif isinstance(t, ast.Subscript):
            self._subscript(t, rmw=True)
        return node

    def visit_Delete(self, node: ast.Delete) -> ast.AST:
        for t in node.targets:
            self.pre.extend(self._store_events(t))
        node.targets = [self.visit(t) for t in node.targets]
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        node.iter = self._whole(self.visit(node.iter))
        node.target = self.visit(node.target)
        events = self._store_events(node.target)
        node.body = events + self._stmts(node.body)
        node.orelse = self._stmts(node.orelse)
        return node

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        node.iter = self.visit(node.iter)
        node.target = self.visit(node.target)
        node.body = self._store_events(node.target) + self._stmts(node.body)
        node.orelse = self._stmts(node.orelse)
        return node

    def visit_With(self, node: Any) -> ast.AST:
        events: List[ast.stmt] = []
        for item in node.items:
            item.context_expr = self.visit(item.context_expr)
            if item.optional_vars is not None:
                item.optional_vars = self.visit(item.optional_vars)
                events += self._store_events(item.optional_vars)
        node.body = events + self._stmts(node.body)
        return node

    visit_AsyncWith = visit_With

    def visit_match_case(self, node: Any) -> ast.AST:
        # Patterns are not expressions: ``case Color.RED:`` must stay an attribute lookup.
        if node.guard is not None:
            node.guard = self.visit(node.guard)
        node.body = self._stmts(node.body)
        return node

    # -- expressions -----------------------------------------------------

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if not isinstance(node.ctx, ast.Load) or not self._active():
            return node
        kind = self._name_kind(node.id)
        if kind == "global":
            hook = self._hook("rd_global", [self._module_ref(), ast.Constant(node.id), self._site(node)], node)
            return self._or_name(hook, node)
        if kind == "cell":
            hook = self._hook("rd_cell", [self._cell_var(node.id), ast.Constant(self._cell_desc(node.id)), self._site(node)], node)
            return self._or_name(hook, node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.value = self.visit(node.value)
        if not self._active() or _skip_receiver(node.value) or self._is_module(node.value):
            return node
        hook = "rd_attr" if isinstance(node.ctx, ast.Load) else "wr_attr"
        node.value = self._hook(hook, [node.value, ast.Constant(node.attr), self._site(node)], node.value)
        return node

    def _is_module(self, value: ast.AST) -> bool:
        return isinstance(value, ast.Name) and value.id in self.module_imports and self.scope.kind != "class"

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self._subscript(node, rmw=False)
        return node

    def _subscript(self, node: ast.Subscript, rmw: bool) -> None:
        key = node.slice
        if not PYBEHAVIOR.positions_in_tracebacks and type(key).__name__ == "Index":  # pragma: no cover
            key = key.value  # type: ignore[attr-defined]
        node.value = self.visit(node.value)
        node.slice = self.visit(node.slice)
        if not self._active():
            return
        site = self._site(node)
        write = not isinstance(node.ctx, ast.Load)
        if _has_slice(key):
            # A slice is no value the hook could take: the contents as a whole.
            hook = "mut_whole" if write or rmw else "rd_whole"
            node.value = self._hook(hook, [node.value, site], node.value)
            return
        hook = "rmw_key" if rmw else ("del_key" if isinstance(node.ctx, ast.Del)
                                      else "wr_key" if write else "rd_key")
        node.slice = self._hook(hook, [self._dup(), node.slice, site], node.slice)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        f = node.func
        if isinstance(f, ast.Attribute):
            # A method call: the method's lookup is not an access of interest,
            # its receiver is; container methods touch the contents.
            f.value = self.visit(f.value)
            if self._active() and f.attr in METHOD_KINDS and not _skip_receiver(f.value) and not self._is_module(f.value):
                if (f.attr in STORE_ONE and node.args and not node.keywords
                        and not any(isinstance(a, ast.Starred) for a in node.args)):
                    # The store is recorded once its last argument is evaluated.
                    f.value = self._hook("store_method", [f.value, ast.Constant(f.attr), self._site(f)], f.value)
                    node.args = [self.visit(a) for a in node.args]
                    node.args[-1] = self._hook("stored", [node.args[-1], self._site(f)], node.args[-1])
                    return node
                f.value = self._hook("call_method", [f.value, ast.Constant(f.attr), self._site(f)], f.value)
        else:
            node.func = self.visit(f)
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        if (isinstance(f, ast.Name) and f.id in _ATTR_BUILTINS and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and self._active() and self._is_builtin(f.id)):
            # getattr(o, "x"), setattr(o, "x", v), ...: the same access as o.x
            node.args[0] = self._hook(_ATTR_BUILTINS[f.id], [node.args[0], node.args[1], self._site(node)], node.args[0])
        if isinstance(f, ast.Name) and f.id in _WHOLE_READERS and self._active() and self._is_builtin(f.id):
            first = 1 if f.id in ("map", "filter") else 0
            hook = "rd_len" if f.id == "len" else "rd_whole" if f.id in _VALUE_READERS else "rd_iter"
            node.args = [a if i < first or isinstance(a, ast.Starred) else self._whole(a, hook)
                         for i, a in enumerate(node.args)]
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node.left = self.visit(node.left)
        node.comparators = [self.visit(c) for c in node.comparators]
        if self._active():
            for i, op in enumerate(node.ops):
                if isinstance(op, (ast.In, ast.NotIn)):
                    c = node.comparators[i]
                    node.comparators[i] = self._hook("rd_index", [c, self._site(c)], c)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        # ``{**d}`` reads d's keys and values.
        node.values = [self._whole(v, "rd_whole") if k is None else v for k, v in zip(node.keys, node.values)]
        return node

    def _whole(self, node: ast.AST, hook: str = "rd_iter") -> ast.AST:
        """``node`` read as a whole by ``hook``: iterated (rd_iter), its values (rd_whole), its size (rd_len)."""
        if not self._active() or isinstance(node, (ast.Constant, ast.ListComp, ast.GeneratorExp, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.JoinedStr)):
            return node
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("range", "enumerate", "zip"):
            return node
        return self._hook(hook, [node, self._site(node)], node)


def _has_slice(key: ast.AST) -> bool:
    """``a[i:j]`` or ``a[i:j, k]``: a key with slice syntax."""
    return isinstance(key, ast.Slice) or (isinstance(key, ast.Tuple) and any(isinstance(e, ast.Slice) for e in key.elts))


def _skip_receiver(value: ast.AST) -> bool:
    """``super().x``: the receiver is a fresh proxy, not shared state."""
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"


def _defined_at_top(top: Any, name: str) -> bool:
    try:
        sym = top.lookup(name)
    except KeyError:
        return False
    return sym.is_assigned() or sym.is_imported()


def _target_names(t: ast.AST) -> List[ast.Name]:
    if isinstance(t, ast.Name):
        return [t]
    if isinstance(t, (ast.Tuple, ast.List)):
        out: List[ast.Name] = []
        for e in t.elts:
            out += _target_names(e)
        return out
    if isinstance(t, ast.Starred):
        return _target_names(t.value)
    return []


def _no_args() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def _locate(new: ast.AST, like: ast.AST) -> ast.AST:
    """Give ``new`` and its children without a position the position of ``like``."""
    for n in ast.walk(new):
        if "lineno" in n._attributes and getattr(n, "lineno", None) is None:
            n.lineno = like.lineno
            n.col_offset = like.col_offset
            n.end_lineno = getattr(like, "end_lineno", like.lineno)
            n.end_col_offset = getattr(like, "end_col_offset", like.col_offset)
    return new


def _is_docstring(st: ast.stmt) -> bool:
    return isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant) and isinstance(st.value.value, str)


def instrument(tree: ast.Module, source: str, filename: str, toplevel: bool = False) -> ast.Module:
    """Rewrite ``tree`` in place and return it.

    Compile the result, then pass the code through :func:`racedet.instrument.link.link`
    before running it: the hooks are names no namespace holds.  The module's
    first lines and its docstring are exactly the original's.  Raises
    RecursionError for code nested deeper than the recursion limit allows
    (see :func:`deep_limit`).
    """
    Instrumenter(tree, source, filename, toplevel).visit(tree)
    return tree


def deep_limit() -> int:
    """A recursion limit for rewriting deeply nested code: the visit recurses once per
    level, and the parser and compiler accept thousands of levels (their own C limits)."""
    return max(sys.getrecursionlimit(), 100_000)
