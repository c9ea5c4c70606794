"""State every process of every instance agrees on: the change signal, the namespace of
shared counters, the counters themselves and claims on periodic work.

It sits below the apps: they import it, it imports none of them (nor `config`).
"""
