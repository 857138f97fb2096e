"""The project on disk: the SQLite store, the undoable edit log and its records, the writer lock, the analysis caches, the reviewer's answers."""
