# differential: form=module
import importlib.machinery
import importlib.util
import linecache
import pkgutil

print(isinstance(__loader__, importlib.machinery.SourceFileLoader), __spec__.loader is __loader__)
print(__loader__.name, __spec__.name, __spec__.origin == __file__)
print(linecache.getline(__file__, 2).strip())
print(pkgutil.get_loader("__main__") is __loader__ if hasattr(pkgutil, "get_loader") else True)
print(__loader__.get_source(__spec__.name).splitlines()[1])
print(importlib.util.find_spec(__spec__.name).loader.__class__.__name__ in ("SourceFileLoader", "RacedetLoader"))
