class K:
    def __add__(self, other):
        print("add")
        return 1

    def __neg__(self):
        print("neg")
        return 1


d = {1: 0}
a = K()
d[a + 1] += 1
d[-a] += 1
print(d)
