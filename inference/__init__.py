"""The web's side of the model boundary.

`routing` turns a catalogue model into the backend that answers for it; `client` streams
an answer from that backend as text deltas, then an outcome carrying the typed energy
record, and finds what an aborted answer cost. No Django models, no WebSocket here.
"""
