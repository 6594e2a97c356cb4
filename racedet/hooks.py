"""The functions instrumented code calls, from the access core in use.

Rewritten code names the hooks ``@racedet_rd_attr`` and so on, names no
program can spell; :mod:`racedet.instrument.link` turns each such name into
a constant holding the function below before the code runs, so no
namespace of the program (builtins, its globals, its locals) holds any of
them.  Nothing else belongs here (``finalizing``, which starts every
``__del__``, is the engine's: it records no access).
"""

from racedet.core import access as _core
from racedet.finalize import finalizing

rd_attr = _core.rd_attr
wr_attr = _core.wr_attr
rmw_attr = _core.rmw_attr
rd_global = _core.rd_global
wr_global = _core.wr_global
rmw_global = _core.rmw_global
cellof = _core.cellof
rd_cell = _core.rd_cell
wr_cell = _core.wr_cell
rmw_cell = _core.rmw_cell
rd_item = _core.rd_item
wr_item = _core.wr_item
rmw_item = _core.rmw_item
rd_key = _core.rd_key
wr_key = _core.wr_key
del_key = _core.del_key
rmw_key = _core.rmw_key
rd_index = _core.rd_index
wr_index = _core.wr_index
rd_whole = _core.rd_whole
mut_whole = _core.mut_whole
call_method = _core.call_method
rd_len = _core.rd_len
rd_iter = _core.rd_iter
del_item = _core.del_item
store_method = _core.store_method
stored = _core.stored


NAMES = ("rd_attr", "wr_attr", "rmw_attr", "rd_global", "wr_global", "rmw_global", "cellof",
         "rd_cell", "wr_cell", "rmw_cell", "rd_item", "wr_item", "rmw_item", "rd_key", "wr_key",
         "del_key", "rmw_key", "rd_index", "wr_index", "rd_whole", "mut_whole", "call_method", "rd_len",
          "del_item", "store_method", "stored", "rd_iter", "finalizing")


def install() -> None:
    """Nothing to install: instrumented code holds the hooks as constants (kept for callers)."""
