"""Adapters: thin entry points (Lambda, CLI, …) around the core; the core never imports them."""
