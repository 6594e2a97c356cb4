# differential: form=dir
x = (
