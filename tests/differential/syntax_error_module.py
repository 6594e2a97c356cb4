# differential: form=module
x = (
