"""Conversation: the chat engine that turns an event into messages, and the views it renders."""
