"""Between the window and the lab layer: Qt objects that run lab operations off the GUI thread (a thread pool)
and report through signals the GUI thread receives (progress, finished, failed, cancelled).

Views call controllers for every write and every slow read (hashing, extraction, image decoding, the run's
process); controllers call easeml_gui.lab. Nothing here draws.
"""
