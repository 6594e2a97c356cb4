"""pytest-racedet: ``pytest --race`` runs every test under racedet."""
