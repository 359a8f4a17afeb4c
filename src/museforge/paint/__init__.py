"""Robot painting: Bézier strokes, a painting environment, agents, baselines and plotter output."""
