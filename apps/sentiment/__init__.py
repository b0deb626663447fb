"""Review sentiment: IMDB (or any labelled text) with a transformer or a bidirectional RNN."""
