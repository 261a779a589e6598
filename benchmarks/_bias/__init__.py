"""The parts of benchmarks/bias.py: the London set's measures (london), the report (report),
smile breadth (smiles) and UTKFace (utk); benchmarks/studies/ read them too."""
