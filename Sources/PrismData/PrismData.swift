// PrismData
