# -*- coding: latin-1 -*-
# differential: form=dir
print("café")
