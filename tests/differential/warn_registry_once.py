# The "once"/"default" registries of the attributed module work as under python.
import sys
import warnings

warnings.simplefilter("default")
for i in range(3):
    warnings.warn("repeated", stacklevel=5)
    warnings.warn("repeated here")
print(sorted(k for k in vars(sys) if "registry" in k))
