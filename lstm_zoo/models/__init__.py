"""Model factories."""

from lstm_zoo.models.classifier_task import TextClassifier
from lstm_zoo.models.language_model import (
    EpochLearningRateDecay,
    ResetStatesAtEpochAndEvaluation,
    compile_language_model,
    language_model,
)
from lstm_zoo.models.lm_task import LanguageModel
from lstm_zoo.models.metrics import Perplexity, TokenAccuracy
from lstm_zoo.models.presets import (
    LANGUAGE_MODEL_PRESETS,
    SENTIMENT_PRESETS,
    language_model_preset,
    sentiment_preset,
)
from lstm_zoo.models.sentiment import (
    compile_sentiment_classifier,
    sentiment_classifier,
    sentiment_classifier_from_preset,
)
from lstm_zoo.models.tagger import CRFTagger, compile_tagger, sequence_tagger
from lstm_zoo.models.tagger_task import SequenceTagger
from lstm_zoo.models.task import Task

__all__ = [
    "LanguageModel",
    "SequenceTagger",
    "Task",
    "TextClassifier",
    "CRFTagger",
    "compile_tagger",
    "sequence_tagger",
    "LANGUAGE_MODEL_PRESETS",
    "SENTIMENT_PRESETS",
    "EpochLearningRateDecay",
    "Perplexity",
    "ResetStatesAtEpochAndEvaluation",
    "TokenAccuracy",
    "compile_language_model",
    "language_model",
    "language_model_preset",
    "compile_sentiment_classifier",
    "sentiment_classifier",
    "sentiment_classifier_from_preset",
    "sentiment_preset",
]
