"""Developer tools: the tiny-model recipe and the worker launcher (make run, tests, benches).

Not part of the worker image: production workers serve real models.
"""
