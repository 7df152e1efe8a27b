"""RGS-style test PKI: profiles, issuance, CRLs, trust decisions and agent identity."""
