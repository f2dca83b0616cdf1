"""The ad-analysis domain: what an ad_analysis job does."""
