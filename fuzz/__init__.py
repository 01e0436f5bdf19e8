"""Fuzz targets (atheris/libFuzzer); see fuzz_request.py."""
