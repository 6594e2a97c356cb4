# differential: form=module
# C recursion (repr of nested lists) has the room it has under python.
def nest(n):
    x = []
    for _ in range(n):
        x = [x]
    return x


def fits(n):
    try:
        repr(nest(n))
        return True
    except RecursionError:
        return False


lo, hi = 1, 100000
while lo < hi:
    mid = (lo + hi + 1) // 2
    if fits(mid):
        lo = mid
    else:
        hi = mid - 1
print(lo)
