import builtins

print([n for n in dir(builtins) if not n.isidentifier()])
