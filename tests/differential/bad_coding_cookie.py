# -*- coding: bogus -*-
# differential: xfail=issue 11 section 4: source decoding errors read differently (runner/importer)
print("never")
