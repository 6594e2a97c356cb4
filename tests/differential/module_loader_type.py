# differential: form=module
# differential: xfail=noticed: a -m module's __loader__ is racedet's RacedetLoader, not SourceFileLoader (importer)
print(type(__loader__).__name__, type(__spec__.loader).__name__)
