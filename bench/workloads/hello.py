"""Start-up: a hello-world, so the runner can measure what racedet adds before user code runs.

It imports nothing, so the wall time is interpreter start-up plus (under
racedet) the detector's own import and the rewrite of this file.
"""

print("hello, world")
print('{"seconds": 0.0}')
