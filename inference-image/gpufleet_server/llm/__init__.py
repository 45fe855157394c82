"""LLM mode of gpufleet-server: a small causal transformer behind continuous batching, served
over OpenAI's completions API and Triton's generate extension, with vLLM's metric names."""
