"""Text models: AWD-LSTM with its dropouts, language-model and classifier heads."""
