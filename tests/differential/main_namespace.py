import sys

main = sys.modules["__main__"]
print(main.__name__, main.__doc__, main.__package__, main.__spec__, type(main.__loader__).__name__)
print(globals() is vars(main), __builtins__ is vars(main)["__builtins__"])
