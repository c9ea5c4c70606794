"""Client dialects (STYLE.md "Dialects are ingresses, adapters are egresses").

Each module turns its dialect's request into the gateway's internal request (OpenAI chat
completions, which every adapter takes) and the internal answer or chunk stream back into
its own format. `passthrough` is the short-circuit for an upstream that speaks the
client's dialect itself; it still runs inside chat.gateway's one attempt loop.
"""
