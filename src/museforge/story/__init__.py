"""Stories: premises from Tracery grammars; a planner and a language model come later."""
