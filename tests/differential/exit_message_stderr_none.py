# With sys.stderr gone, python writes the message to the process's stderr itself.
import sys
sys.stderr = None
sys.exit("msg to fd 2")
