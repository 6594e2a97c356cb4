# -*- coding: latin-1 -*-
# differential: form=zip
print("caf\xe9 \u00e9", "café")
