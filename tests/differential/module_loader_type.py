# differential: form=module
print(type(__loader__).__name__, type(__spec__.loader).__name__)
