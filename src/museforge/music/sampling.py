"""How new melodies are drawn by default: ``music sample``, ``continue`` and ``evaluate``,
and the figures of the shipped models' cards.

Codes come from the density fitted to the training melodies' codes (``prior.py``); each
step of the decoder is then drawn from softmax(logits / temperature), MusicVAE's 0.5,
restricted to its nucleus (Holtzman et al. 2020): the fewest likeliest events whose
probabilities sum to ``top_p``. The values were chosen on the corpus's held-out melodies,
by how well samples keep their key and how close their style comes (see the model cards).
"""

SAMPLE_TEMPERATURE = 0.5
SAMPLE_TOP_P = 1.0
