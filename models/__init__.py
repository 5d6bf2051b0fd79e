"""Models of the close probability."""

from leadscore.models.close_probability import CloseProbabilityModel

__all__ = ["CloseProbabilityModel"]
