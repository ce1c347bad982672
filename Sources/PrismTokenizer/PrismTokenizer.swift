// PrismTokenizer
