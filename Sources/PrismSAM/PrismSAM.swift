// PrismSAM
