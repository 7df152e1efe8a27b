"""Tests of the RFC 3161 TSA, its HTTP endpoint and token verification."""
