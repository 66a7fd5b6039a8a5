"""What one running API process shares between requests."""

from __future__ import annotations

from dataclasses import dataclass

from tenku.addons.registry import AddonRegistry
from tenku.config import Settings
from tenku.db.engine import Database
from tenku.mail import Mailer
from tenku.sms import SmsSender
from tenku.storage.blobs import BlobStore
from tenku.storage.sealing import Sealer
from tenku.storage.signing import Signer
from tenku.web.ratelimit import RateLimiter
from tenku.web.throttle import Clock, Throttle
from tenku.web.tokens import TokenCache


@dataclass
class AppContext:
    settings: Settings
    db: Database
    ratelimiter: RateLimiter
    blobs: BlobStore
    signer: Signer
    addons: AddonRegistry
    tokens: TokenCache
    mailer: Mailer
    clock: Clock
    throttle: Throttle
    sealer: Sealer
    sms: SmsSender
