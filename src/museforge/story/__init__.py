"""Stories: premises from Tracery grammars, a planner that writes a story top-down with a
language model (plan, levels, forms, answers, premise, prose, small_model, render),
co-writing part by part (cowrite, cowrite_llm), and the model served over an
OpenAI-compatible API (serve)."""
