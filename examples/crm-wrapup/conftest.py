"""Makes the project's own packages (`crm_wrapup`) importable in its tests, wherever pytest is started from:
pytest puts the folder of a conftest.py on sys.path."""
