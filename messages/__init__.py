"""What the bot says: the neutral message model, the copy per locale and the content."""
