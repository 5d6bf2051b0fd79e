"""Models of the close probability."""
from models.close_probability import CloseProbabilityModel

__all__ = ["CloseProbabilityModel"]
