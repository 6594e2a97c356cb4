# differential: form=module
import inspect
import sys
import traceback

print([(f.name, f.lineno) for f in traceback.extract_stack()])
print([(f.function, f.lineno) for f in inspect.stack()])
f = sys._getframe()
depth = 0
while f is not None:
    depth += 1
    f = f.f_back
print(depth)
