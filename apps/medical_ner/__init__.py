"""medical_ner: problems, treatments and tests in clinical text, with exact offsets and assertion status.

The domain core (IOB readers, the token classifier and its training, decoding, assertion rules, LLM
extraction, evaluation) imports neither the web stack nor the platform's services; the manifest wires
it into Moesaic. Heavy modules (torch) load only when a model is used.
"""
