import sys


class Code:
    def __str__(self):
        raise ValueError("no str")


sys.exit(Code())
