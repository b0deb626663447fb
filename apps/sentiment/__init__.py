"""Review sentiment: IMDB (or any labelled text) with a transformer or a bidirectional RNN."""

from apps.sentiment.app import SentimentApp

__all__ = ["SentimentApp"]
