"""Promotion steps: register the best student as the challenger; the gate that moves the champion."""
