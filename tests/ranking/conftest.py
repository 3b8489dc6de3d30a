"""Battles shared by the ranking tests: five models of known strength, and their string form."""

import numpy as np

from ranking import OUTCOMES

TRUE_RATINGS = {"alpha": 1200.0, "bravo": 1120.0, "charlie": 1040.0, "delta": 960.0, "echo": 880.0}


def centred(ratings):
    values = np.asarray(ratings, dtype=np.float64)
    return values - values.mean() + 1000.0


def as_strings(sim):
    """Simulated battles with model names and outcome labels as numpy string arrays."""
    names = np.asarray(sim.names)
    return names[sim.model_a], names[sim.model_b], np.asarray(OUTCOMES)[sim.outcome]
