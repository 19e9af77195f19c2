"""Flows the platform itself runs: the smoke flow that every environment deploys."""
