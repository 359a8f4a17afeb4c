"""Stories: premises from Tracery grammars and a language model (llm.py) served over an
OpenAI-compatible API (serve.py); a planner comes later."""
