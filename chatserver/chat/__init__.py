"""The chat: what each frame means, who is told, fan-out in a process and across processes."""
