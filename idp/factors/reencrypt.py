"""Re-encrypt every factor secret under the current encryption key, row by row.

Run after a new key was put first in ``IDP_ENCRYPTION_KEY`` (old keys still listed): the
service keeps working throughout, because every key stays readable and each row is rewritten
in its own small transaction. Afterwards the old key can be removed from the configuration.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.keys.encryption import KeyRing, factor_aad
from idp.models import Factor

BATCH = 100


def reencrypt_all(ring: KeyRing) -> int:
    """Rewrite every secret not yet under ``ring.current``; returns how many were rewritten."""
    ids = db.session.execute(select(Factor.id).where(Factor.secret.is_not(None))).scalars().all()
    count = 0
    for factor_id in ids:
        factor = db.session.get(Factor, factor_id)
        if factor is None or factor.secret is None or ring.key_id_of(factor.secret) == ring.current:
            continue
        aad = factor_aad(factor.id, factor.kind)
        factor.secret = ring.encrypt(ring.decrypt(factor.secret, aad), aad)
        count += 1
        if count % BATCH == 0:
            db.session.commit()
    db.session.commit()
    return count
