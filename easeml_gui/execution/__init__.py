"""Executors that run the engine's tasks (engine.ports.Executor). No torch here: workers are subprocesses."""
