"""A byte-level tokenizer: a token is one byte of the UTF-8 text, so any prompt encodes and
the prompt's token count is its byte count."""

from __future__ import annotations

VOCAB_SIZE = 256
# Generation is restricted to printable ASCII (and newline): each generated token is then a
# whole character, so every streamed chunk is valid text on its own (a multi-byte character
# split across two chunks would reach the client as replacement characters).
GENERATED_TOKEN_IDS = (10, *range(32, 127))


def encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def decode(token_ids: list[int]) -> str:
    return bytes(token_ids).decode("utf-8", errors="replace")
