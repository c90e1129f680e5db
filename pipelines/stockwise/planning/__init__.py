"""Planning: from forecast and stock positions to reorder lines with reasons."""
