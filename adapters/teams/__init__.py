"""Microsoft Teams: Bot Framework adapter and the Adaptive Card renderer (`render`)."""
