"""Link instrumented bytecode to the hooks: no name of racedet's is ever looked up at run time.

The rewriter writes each hook as a name no program can spell
(``@racedet_rd_attr``), so the compiled module is ordinary, marshal-able
bytecode that can be cached as a pyc.  Before that code runs,
:func:`link` rewrites every load of such a name, in place and at the same
length, into what the hook is:

* ``@racedet_X`` (a hook): ``LOAD_CONST`` of the hook function itself,
  appended to ``co_consts`` (with ``PUSH_NULL`` where the load pushed one);
* ``@racedet_dup`` (the container of a subscript, as the hook's first
  argument): a copy of the value three slots down, so ``d[k]`` becomes
  ``d[rd_key(<d again>, k, site)]`` with ``d`` and ``k`` evaluated once;
* ``@racedet_globals`` (the module the global belongs to): ``LOAD_CONST
  None``; the hook reads ``__name__`` from its caller's globals, the
  module's own namespace even where a function or a class namespace has a
  ``__name__`` of its own.

So builtins, globals and locals hold nothing of racedet's (a class body's
``__prepare__`` namespace is never asked for a hook), and hooks keep
working while the interpreter tears builtins down at exit.  Once linked,
no instruction names a marker any more, so the markers leave ``co_names``
(:func:`_drop_markers`): introspection that reads the names a function uses
(``inspect.getclosurevars``) sees the program's names only.

Where a name load is a single code unit (3.10, and ``LOAD_NAME`` in class
and module bodies), the rewriter wraps the name in unary ``+`` operators:
each is one more code unit for the replacement (an ``EXTENDED_ARG`` when the
new constant's index needs it, or a ``NOP``).  Line tables, exception
tables and jump targets stay valid because no instruction moves.
"""

from __future__ import annotations

import dis
import opcode
import struct
from types import CodeType
from typing import Dict, List, Optional

from racedet.env import PYBEHAVIOR

PREFIX = "@racedet_"
DUP = PREFIX + "dup"
GLOBALS = PREFIX + "globals"

_OP = opcode.opmap
_EXT = _OP["EXTENDED_ARG"]
_NOP = _OP["NOP"]
_LOAD_CONST = _OP["LOAD_CONST"]
_LOAD_GLOBAL = _OP["LOAD_GLOBAL"]
_LOAD_NAME = _OP["LOAD_NAME"]
#: Unary plus, the rewriter's padding (3.12+ spells it as an intrinsic).
_UNARY_POSITIVE = _OP.get("UNARY_POSITIVE")
_INTRINSIC_1 = _OP.get("CALL_INTRINSIC_1")
_INTRINSIC_UNARY_POSITIVE = 5


def _cache_table() -> List[int]:
    """Inline cache entries after each opcode (3.11+; all zero before)."""
    table = [0] * 256
    entries = getattr(dis, "_inline_cache_entries", None)
    if isinstance(entries, dict):      # keyed by name
        for name, n in entries.items():
            if name in _OP:
                table[_OP[name]] = n
    elif entries is not None:          # indexed by opcode
        for op, n in enumerate(entries):
            table[op] = n
    return table


_CACHES = _cache_table()
#: Units a LOAD_GLOBAL takes (with its caches, without EXTENDED_ARG).
GLOBAL_UNITS = 1 + _CACHES[_LOAD_GLOBAL]


class LinkError(Exception):
    """The code cannot be linked in place (the caller falls back to plain code)."""


def _hook_table() -> Dict[str, object]:
    from racedet import hooks  # the access core is chosen when code is first linked

    return {PREFIX + name: getattr(hooks, name) for name in hooks.NAMES}


_hooks: Optional[Dict[str, object]] = None


def needs_link(code: CodeType) -> bool:
    return any(n.startswith(PREFIX) for n in code.co_names)


def link(code: CodeType) -> CodeType:
    """``code`` and every code object nested in it, with racedet's names resolved."""
    global _hooks
    if _hooks is None:
        _hooks = _hook_table()
    return _link(code, _hooks)


def _link(code: CodeType, table: Dict[str, object]) -> CodeType:
    consts = list(code.co_consts)
    changed = False
    for i, c in enumerate(consts):
        if isinstance(c, CodeType):
            new = _link(c, table)
            if new is not c:
                consts[i] = new
                changed = True
    if not needs_link(code):
        return code.replace(co_consts=tuple(consts)) if changed else code
    names = list(code.co_names)
    raw = bytearray(code.co_code)
    _rewrite(raw, names, consts, table)
    names = _drop_markers(raw, names)
    return code.replace(co_code=bytes(raw), co_consts=tuple(consts), co_names=tuple(names))


#: Opcodes whose argument indexes ``co_names``, with the bits the index is
#: shifted by (3.11+ keep flags in the low bits of some of them).
_NAME_SHIFT: Dict[int, int] = {op: 0 for op in dis.hasname if op < 256}
if PYBEHAVIOR.inline_caches:
    _NAME_SHIFT[_LOAD_GLOBAL] = 1                    # namei << 1 | push-NULL
if "LOAD_SUPER_ATTR" in _OP:                          # 3.12+
    _NAME_SHIFT[_OP["LOAD_ATTR"]] = 1                 # namei << 1 | method
    _NAME_SHIFT[_OP["LOAD_SUPER_ATTR"]] = 2           # namei << 2 | flags


def _drop_markers(raw: bytearray, names: list) -> list:
    """Remove the (now unreferenced) marker names from ``names``, renumbering ``raw`` in place.

    Indexes only shrink, so every argument still fits its units; a unit an
    index no longer needs stays as an ``EXTENDED_ARG 0`` prefix, which the
    interpreter treats as no prefix.
    """
    keep = [i for i, n in enumerate(names) if not n.startswith(PREFIX)]
    if len(keep) == len(names):
        return names
    new_index = {old: new for new, old in enumerate(keep)}
    n, i = len(raw), 0
    while i < n:
        start, arg = i, 0
        while raw[i] == _EXT:
            arg = (arg | raw[i + 1]) << 8
            i += 2
        op = raw[i]
        arg |= raw[i + 1]
        shift = _NAME_SHIFT.get(op)
        if shift is not None:
            flags = arg & ((1 << shift) - 1)
            arg = new_index[arg >> shift] << shift | flags
            for j in range(i, start - 2, -2):    # the opcode's unit, then its prefixes
                raw[j + 1] = arg & 0xFF
                arg >>= 8
        i += 2 + 2 * _CACHES[op]
    return [names[i] for i in keep]


def _arg_units(arg: int, op: int) -> List[int]:
    """``op arg`` as code units (EXTENDED_ARG prefixes first), one unit per pair of bytes."""
    out = [op | (arg & 0xFF) << 8]
    arg >>= 8
    while arg:
        out.insert(0, _EXT | (arg & 0xFF) << 8)
        arg >>= 8
    return out


def _is_pad(raw: bytearray, i: int) -> bool:
    op = raw[i]
    return op == _UNARY_POSITIVE or (op == _INTRINSIC_1 and raw[i + 1] == _INTRINSIC_UNARY_POSITIVE)


def _rewrite(raw: bytearray, names: list, consts: list, table: Dict[str, object]) -> None:
    """Replace every load of a marker in ``raw`` (the units around it stay where they are).

    Candidates are found with ``bytearray.find``: in ``co_code`` every even
    offset holds an opcode, an EXTENDED_ARG or a zeroed cache entry, so an
    even offset holding LOAD_GLOBAL or LOAD_NAME is such an instruction.
    """
    n = len(raw)
    orig = tuple(names)    # ``names`` is rewritten as markers are resolved
    const_index: Dict[int, int] = {}
    done: Dict[tuple, bytes] = {}   # the same load, linked once per code object
    wide = PYBEHAVIOR.inline_caches
    for op in (_LOAD_GLOBAL, _LOAD_NAME):
        i = raw.find(op)
        while i >= 0:
            if i & 1:
                i = raw.find(op, i + 1)
                continue
            start, arg, shift = i, raw[i + 1], 8
            while start >= 2 and raw[start - 2] == _EXT:
                start -= 2
                arg |= raw[start + 1] << shift
                shift += 8
            namei = arg >> 1 if op == _LOAD_GLOBAL and wide else arg
            name = orig[namei]
            end = i + 2 + 2 * _CACHES[op]
            if name.startswith(PREFIX):
                null = op == _LOAD_GLOBAL and wide and arg & 1
                while end < n and _is_pad(raw, end):
                    end += 2
                room = (end - start) // 2
                key = (namei, null, room)
                patch = done.get(key)
                if patch is None:
                    units = _replacement(name, bool(null), namei, names, consts, const_index, table)
                    if len(units) > room and name == GLOBALS:
                        units = _module_name_load(namei, names)
                    if len(units) > room:
                        raise LinkError(f"no room to link {name} at offset {start}")
                    units += [_NOP] * (room - len(units))
                    patch = done[key] = struct.pack(f"<{room}H", *units)
                raw[start:end] = patch
            i = raw.find(op, end)


def _module_name_load(namei: int, names: list) -> List[int]:
    """The module reference where ``LOAD_CONST None`` does not fit (a 3.10 code object
    with more than 256 constants): ``LOAD_GLOBAL __name__`` in the marker's own slot
    of co_names, which keeps the argument's size (the hooks take the name as it is)."""
    names[namei] = "__name__"
    if PYBEHAVIOR.inline_caches:
        return _arg_units(namei << 1, _LOAD_GLOBAL) + [0] * _CACHES[_LOAD_GLOBAL]
    return _arg_units(namei, _LOAD_GLOBAL)


def _replacement(name: str, null: bool, namei: int, names: list, consts: list,
                 const_index: Dict[int, int], table: Dict[str, object]) -> List[int]:
    if name == DUP:
        if PYBEHAVIOR.inline_caches:
            return [_OP["COPY"] | 3 << 8]
        # [obj, hook] -> [obj, hook, obj]
        return [_OP["ROT_TWO"], _OP["DUP_TOP"], _OP["ROT_THREE"]]
    if name == GLOBALS:
        # ``None``: the hook takes the module from its caller's globals, so no name
        # of racedet's (nor ``__name__``) is left in co_names.
        k = const_index.get(id(None))
        if k is None:
            k = next((i for i, c in enumerate(consts) if c is None), None)
            if k is None:
                k = len(consts)
                consts.append(None)
            const_index[id(None)] = k
        return _arg_units(k, _LOAD_CONST)
    fn = table.get(name)
    if fn is None:
        raise LinkError(f"unknown hook {name}")
    k = const_index.get(id(fn))
    if k is None:
        k = const_index[id(fn)] = len(consts)
        consts.append(fn)
    load = _arg_units(k, _LOAD_CONST)
    if not null:
        return load
    push_null = _OP["PUSH_NULL"]
    return load + [push_null] if PYBEHAVIOR.null_after_callable else [push_null] + load
