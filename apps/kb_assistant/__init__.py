"""kb_assistant: answers questions over uploaded documents, with citations."""
