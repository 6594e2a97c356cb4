# differential: xfail=issue 11 section 2: dir(builtins) gains racedet's hook names (rewriter)
import builtins

print([n for n in dir(builtins) if not n.isidentifier()])
