"""Text generation for the language models: samplers, beam search and the generation loop.

>>> model = language_model(20, units=8, num_layers=1)
>>> generate(model, [[1, 2], [3]], max_length=5, sampler="beam", num_beams=3)  # doctest: +SKIP
"""

from lstm_zoo.generation.beam import BeamSampler
from lstm_zoo.generation.generate import generate, generate_text, generate_tokens, pad_prompts
from lstm_zoo.generation.registry import (
    available_samplers,
    get_sampler,
    register_sampler,
    serialize_sampler,
)
from lstm_zoo.generation.samplers import (
    GreedySampler,
    RandomSampler,
    Sampler,
    TopKSampler,
    TopPSampler,
)
from lstm_zoo.generation.step import LanguageModelStep, StepModel, step_model

__all__ = [
    "BeamSampler",
    "GreedySampler",
    "LanguageModelStep",
    "RandomSampler",
    "Sampler",
    "StepModel",
    "TopKSampler",
    "TopPSampler",
    "available_samplers",
    "generate",
    "generate_text",
    "generate_tokens",
    "get_sampler",
    "pad_prompts",
    "register_sampler",
    "serialize_sampler",
    "step_model",
]
