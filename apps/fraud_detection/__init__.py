"""The fraud detection app: card transactions in, calibrated scores with reasons out.

Domain core (importable without the web stack): ``schema`` (validation), ``features`` (one feature
definition for batch and online), ``model`` (gradient boosting + calibration), ``reasons``,
``evaluation`` (the leak-proof evaluation). Readers live in ``connectors.transactions``.
"""
