"""vidsum: unsupervised video summarization (TR-SUM, SG-VS, DR-DSN) with Ray Train/Tune."""
__version__ = "0.1.0"
