// PrismVLM
