// PrismIO
