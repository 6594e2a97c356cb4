# -*- coding: bogus -*-
print("never")
