# Python removes __main__.__file__ once a script has run: atexit handlers see that.
import atexit
import sys

atexit.register(lambda: print("has __file__:", hasattr(sys.modules["__main__"], "__file__")))
print("has __file__:", hasattr(sys.modules["__main__"], "__file__"))
