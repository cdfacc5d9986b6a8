"""Reproducible builders for MangaAssist: the shipped data (``build_data``) and the model
archives trained from it (``build_all``). Fixed seeds, CPU only, nothing downloaded."""
