"""The functions instrumented code calls, from the access core in use.

Rewritten modules do ``from racedet.hooks import rd_attr as @racedet_rd_attr, ...``
once, at import, so the core must be chosen (:mod:`racedet.core`) before the
first instrumented module runs.  Nothing else belongs here.
"""

from racedet.core import access as _core

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
rd_index = _core.rd_index
wr_index = _core.wr_index
rd_whole = _core.rd_whole
mut_whole = _core.mut_whole
call_method = _core.call_method
