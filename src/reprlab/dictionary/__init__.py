"""Sparse autoencoders and dictionaries: train, evaluate, inspect, match, sparse coding."""
from .sae import SparseAutoencoder, load
from .train import train
