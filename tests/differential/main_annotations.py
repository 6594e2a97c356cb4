# differential: xfail=issue 11 section 2: __main__.__annotations__ missing for an annotated main script (rewriter)
x: int = 1
print(__annotations__)
