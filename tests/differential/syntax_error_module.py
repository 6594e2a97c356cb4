# differential: form=module
# differential: xfail=noticed: a -m / directory program's SyntaxError lacks the runpy and importlib frames python shows (runner)
x = (
