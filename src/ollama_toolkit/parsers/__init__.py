"""Pure stream parsers of model output: thinking sections and tool calls, fed text as it comes."""
