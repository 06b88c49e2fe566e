"""The composition root: ``build(settings)`` makes every service, once, and reads top to
bottom. The HTTP app (``alphacut.server``), the CLI's store commands and the tests take
what it built; nothing else constructs a service or sizes a thread pool.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from alphacut.cpus import available_cpus
from alphacut.domain.billing import PlanPrice
from alphacut.domain.clock import Clock, SystemClock
from alphacut.domain.upload import UploadLimits
from alphacut.engine.config import Downloads, EngineConfig, EnginePools
from alphacut.engine.onnx import Threads
from alphacut.engine.pipeline import Engine
from alphacut.engine.runner import Runner
from alphacut.engine.runtimes import RuntimeConfig
from alphacut.imaging.encode import EncodeSettings
from alphacut.imaging.sniff import Limits
from alphacut.secret import Secret, resolve_secret
from alphacut.service.accounts import AccountService
from alphacut.service.auth import PrincipalResolver, ProxyPolicy
from alphacut.service.billing import StripeConfig, StripeWebhook
from alphacut.service.csrf import CsrfTokens
from alphacut.service.identity import IdentityPolicy, IdentityService
from alphacut.service.mail import Mailer, SmtpConfig, build_mailer
from alphacut.service.offload import Offload
from alphacut.service.quota import Limits as RateLimits
from alphacut.service.quota import QuotaService
from alphacut.service.removal import RemovalUseCase
from alphacut.service.tokens import TokenSigner
from alphacut.service.uploads import UploadGate
from alphacut.service.url_fetch import FetchPolicy, UrlFetcher, parse_allow_list
from alphacut.service.usage import UsageService
from alphacut.settings import Settings, proxy_networks
from alphacut.storage.base import Store
from alphacut.storage.factory import open_store

# --- thread pools: sized here, and only here ----------------------------------------------


def pool_sizes(settings: Settings) -> dict[str, int]:
    """Threads of every pool a request can touch; their sum bounds the process's threads.

    ``work``: images at once (the runner); ``helpers``: one side task per running image;
    ``deflate``: PNG strips, one per CPU; ``store``: blocking store, hashing and mail calls
    from the event loop; ``inference``: ONNX Runtime's own threads in one inference."""
    cpus = available_cpus()
    return {"work": settings.max_concurrency, "helpers": settings.max_concurrency,
            "deflate": cpus, "store": max(8, 4 * cpus), "inference": settings.intra_op_threads}


@dataclass
class Pools:
    work: ThreadPoolExecutor
    helpers: ThreadPoolExecutor
    deflate: ThreadPoolExecutor
    store: ThreadPoolExecutor
    sizes: dict[str, int]

    @classmethod
    def sized(cls, settings: Settings) -> Pools:
        sizes = pool_sizes(settings)
        made = {name: ThreadPoolExecutor(sizes[name], thread_name_prefix=f"alphacut-{name}")
                for name in ("work", "helpers", "deflate", "store")}
        return cls(sizes=sizes, **made)

    def engine(self) -> EnginePools:
        return EnginePools(helpers=self.helpers, deflate=self.deflate)

    def shutdown(self) -> None:
        for pool in (self.work, self.helpers, self.deflate, self.store):
            pool.shutdown(wait=True)


# --- the engine's own config, from the server's settings -----------------------------------


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        models_dir=settings.models_dir,
        model=settings.model,
        allow_noncommercial_models=settings.allow_noncommercial_models,
        allow_agpl_models=settings.allow_agpl_models,
        max_resident_models=settings.max_resident_models,
        threads=Threads(settings.intra_op_threads, settings.inter_op_threads,
                        settings.adaptive_threads, settings.max_concurrency),
        runtime=RuntimeConfig(tuple(settings.providers.split(",")), settings.precision,
                              settings.require_provider),
        refine=settings.refine,
        decontaminate=settings.decontaminate,
        tta=settings.tta,
        refine_hardness=settings.refine_hardness,
        cascade=tuple(name.strip() for name in settings.cascade.split(">") if name.strip()),
        cascade_threshold=settings.cascade_threshold,
        limits=Limits(settings.max_upload_bytes, settings.max_side_px,
                      settings.max_output_pixels),
        encoding=EncodeSettings(
            settings.webp_quality, settings.webp_method, settings.jpeg_quality,
            settings.png_compress_level, settings.png_strategy, settings.png_filter,
            settings.intra_op_threads, avif_quality=settings.avif_quality,
            avif_speed=settings.avif_speed),
        downloads=Downloads(settings.pip_index_url, settings.pip_find_links,
                            settings.download_timeout_s),
    )


def build_engine(settings: Settings, pools: Pools) -> Engine:
    return Engine(engine_config(settings), pools.engine())


# --- the services ---------------------------------------------------------------------------


@dataclass
class Services:
    """Everything the adapters use, built once by :func:`build`."""

    settings: Settings
    clock: Clock
    pools: Pools
    store: Store
    engine: Engine
    runner: Runner
    offload: Offload
    upload_limits: UploadLimits
    tokens: TokenSigner
    csrf: CsrfTokens
    principals: PrincipalResolver
    quota: QuotaService
    removal: RemovalUseCase
    accounts: AccountService
    usage: UsageService
    identity: IdentityService
    mailer: Mailer
    stripe: StripeWebhook | None
    """None while the webhook is off (no ALPHACUT_STRIPE_WEBHOOK_SECRET)."""
    fetcher: UrlFetcher
    """Fetches remove.bg's image_url / bg_image_url (refuses all while ALPHACUT_URL_FETCH is
    off)."""
    secret: Secret | None = None
    """Which secret signs (never shown; ``secret.describe()`` says where it came from)."""
    owns_store: bool = True
    ready: bool = False

    def close(self) -> None:
        self.pools.shutdown()
        if self.owns_store:
            self.store.close()


def build(settings: Settings, *, engine: Engine | None = None, store: Store | None = None,
          clock: Clock | None = None, secret: Secret | None = None) -> Services:
    """Every service, once. ``engine``, ``store`` and ``clock`` may be handed in (tests
    share one warm engine; a store handed in is not closed by :meth:`Services.close`).
    The signing secret is resolved here (:mod:`alphacut.secret`: refused when unsafe)
    unless handed in (the CLI's store commands sign nothing a server reads)."""
    secret = secret or resolve_secret(settings)
    clock = clock or SystemClock()
    pools = Pools.sized(settings)
    owns_store = store is None
    store = store or open_store(settings.store_url, settings.data_dir)
    engine = engine or build_engine(settings, pools)
    runner = Runner(pools.work, settings.max_concurrency, settings.max_queue,
                    pixel_budget=settings.max_pixels_in_flight)
    offload = Offload(pools.store)
    tokens = TokenSigner(secret.value, settings.user_token_ttl_s)
    csrf = CsrfTokens(secret.value)
    proxies = ProxyPolicy(settings.trust_forwarded_for,
                          proxy_networks(settings.trusted_proxies))
    principals = PrincipalResolver(store, tokens, csrf, proxies, settings.admin_token)
    quota = QuotaService(store, RateLimits(
        settings.rate_window_s, settings.rate_limit_anonymous, settings.rate_limit_user,
        settings.rate_limit_plans, settings.anonymous_daily_limit))
    mailer = build_mailer(smtp_config(settings))
    return Services(
        settings=settings, secret=secret, clock=clock, pools=pools, store=store, engine=engine,
        runner=runner, offload=offload,
        upload_limits=UploadLimits(
            settings.max_upload_bytes, settings.upload_idle_timeout_s,
            settings.upload_timeout_s, settings.upload_first_byte_timeout_s,
            settings.upload_min_bytes_per_s),
        tokens=tokens, csrf=csrf, principals=principals, quota=quota,
        removal=RemovalUseCase(principals, quota, engine, runner, offload, clock,
                               UploadGate(settings.max_uploads,
                                          settings.max_uploads_per_caller)),
        accounts=AccountService(store, clock), usage=UsageService(store, clock),
        identity=IdentityService(store, clock, secret.value, identity_policy(settings),
                                 mailer),
        mailer=mailer, stripe=stripe_webhook(settings, store, clock),
        fetcher=UrlFetcher(fetch_policy(settings)), owns_store=owns_store,
    )


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The URL fetcher's policy (``ALPHACUT_URL_FETCH*``); ValueError naming a bad
    allow-list entry."""
    return FetchPolicy(
        enabled=settings.url_fetch,
        allow=parse_allow_list(settings.url_fetch_allow),
        connect_timeout_s=settings.url_fetch_connect_timeout_s,
        total_timeout_s=settings.url_fetch_timeout_s,
        max_bytes=settings.max_upload_bytes,
        ca_file=settings.url_fetch_ca_file,
    )


def smtp_config(settings: Settings) -> SmtpConfig | None:
    if not settings.smtp_host:
        return None
    return SmtpConfig(settings.smtp_host, settings.smtp_port, settings.smtp_tls,
                      settings.smtp_user, settings.smtp_password, settings.mail_from,
                      settings.smtp_timeout_s)


def identity_policy(settings: Settings) -> IdentityPolicy:
    return IdentityPolicy(
        password_min_length=settings.password_min_length,
        verify_ttl_s=settings.verify_link_ttl_s, reset_ttl_s=settings.reset_link_ttl_s,
        login_limit=settings.login_rate_limit, login_window_s=settings.login_rate_window_s,
        mail_limit=settings.mail_rate_limit, default_plan=settings.default_plan,
        default_credits=settings.default_included_credits)


def stripe_webhook(settings: Settings, store: Store, clock: Clock) -> StripeWebhook | None:
    if not settings.stripe_webhook_secret:
        return None
    return StripeWebhook(store, clock, StripeConfig(
        webhook_secret=settings.stripe_webhook_secret,
        tolerance_s=settings.stripe_webhook_tolerance_s,
        plans=settings.stripe_plans, credit_packs=settings.stripe_credit_packs,
        free_plan=PlanPrice(settings.default_plan, settings.default_included_credits)))
