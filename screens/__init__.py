"""Screens: one per system (postgres, redis, containers, health, audit) plus the modals.

Screens render what the app's sources deliver; they do no I/O of their own.
"""
