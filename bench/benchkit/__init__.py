"""The benchmark runner's pieces: the suite, child measurement, statistics, targets and output.

Kept apart from ``bench/run.py`` so each part stays small and the test can
import them; none of it imports racedet (the detector is only ever run as a
child process, ``python -m racedet``).
"""
