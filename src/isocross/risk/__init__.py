"""The risk engine: prices, funding, margin calls, liquidation, insurance fund, ADL, sweeps."""
