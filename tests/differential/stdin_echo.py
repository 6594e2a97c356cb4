# differential: stdin=line one\nline two\n
import sys

for line in sys.stdin:
    print(line.strip().upper())
