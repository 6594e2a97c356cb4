import sys


def down(n):
    try:
        return down(n + 1)
    except RecursionError:
        return n


print(down(0))
sys.setrecursionlimit(200)
print(down(0))
