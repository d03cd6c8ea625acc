"""One router per resource; each handler is one library call."""
