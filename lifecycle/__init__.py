"""How Switchboard's processes start, stop, die and restart (DESIGN.md "Lifecycle").

`supervisor` is `manage.py serve` and imports nothing of Django; `web` and `taskworker`
are the children it starts; `parent` ties a child's life to its supervisor's; `draining`
is what a web worker knows about its own stop.
"""
