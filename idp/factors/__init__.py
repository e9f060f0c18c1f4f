"""Factors: one module per kind behind one interface (enroll, challenge, verify).

Each verifier returns a ``Verification`` naming the RFC 8176 ``amr`` values the user earned, or
raises a ``FactorError`` whose message is safe to show. Factors never talk HTTP.
"""
