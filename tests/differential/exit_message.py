import sys
print("out")
sys.exit("goodbye")
