"""Boussole: orientation toward the cooperation schemes of the French ESS."""
