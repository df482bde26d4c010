"""The conversation engine, its ports, the scheduler/dispatcher and the composition root."""
