import warnings

print(warnings.warn)
