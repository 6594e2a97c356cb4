# differential: args=255
import sys

code = int(sys.argv[1])
print(bool(True), code)
sys.exit(code)
