"""Distillation: losses (KD, HG2M+'s reliable-node and meta-path terms, HIRE's relation term), reliability
scores, reliable meta-path edges, and `signals.build_signals`: what one student reads in one run, as its plan says."""
