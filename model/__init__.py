"""Inference: ``from model import Tagger``."""

from model.errors import ModelLoadError
from model.tagger import Article, ArticleResult, Prediction, TaggedSentence, Tagger

__all__ = ["Article", "ArticleResult", "ModelLoadError", "Prediction", "TaggedSentence", "Tagger"]
