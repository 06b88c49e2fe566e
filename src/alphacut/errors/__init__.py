"""One error tree, in one place: every error alphacut raises on purpose.

The contract's errors (the RemBG API, section 2) carry their HTTP status and
their message byte for byte; they are built here and nowhere else. Storage
errors carry no HTTP status: the web boundary (``alphacut.http.errors``) maps
them, and every other error, to a status and the body a client sees.

The tree is split by area for reading; import from ``alphacut.errors``.
"""

from alphacut.errors.access import (
    AdminApiOff,
    CsrfRejected,
    DailyLimitReached,
    EmailNotVerified,
    FormTooLarge,
    InvalidAdminToken,
    InvalidApiKey,
    InvalidCredentials,
    InvalidEmail,
    InvalidLink,
    InvalidUserToken,
    KeyAndToken,
    KeysNeedVerifiedEmail,
    MonthlyLimitReached,
    NoSuchKey,
    RateLimited,
    TooManyAttempts,
    UnknownKey,
    WeakPassword,
)
from alphacut.errors.base import (
    AlphacutError,
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from alphacut.errors.billing import (
    InvalidWebhook,
    MailUnavailable,
    UnknownPackPrice,
    UnmatchedEvent,
    UnprocessableEvent,
    WebhookDisabled,
    WebhookTooLarge,
)
from alphacut.errors.credits import (
    CreditAmountOutOfRange,
    CreditLimitExceeded,
    CreditsNotApplied,
)
from alphacut.errors.models import (
    ModelError,
    ModelNotInstalled,
    ModelUnavailable,
    Overloaded,
    UnknownModel,
)
from alphacut.errors.request import (
    ALLOWED_EXTENSIONS,
    CorruptImage,
    EmptyFile,
    FieldError,
    FieldErrors,
    FileTooLarge,
    ImageTooTall,
    ImageTooWide,
    InvalidField,
    InvalidSignature,
    MultipleValidationErrors,
    NoFileSelected,
    NoImage,
    OutputTooLarge,
    OutputTooTall,
    OutputTooWide,
    SideTooLarge,
    UnsupportedExtension,
    UploadTimeout,
    field_errors,
)
from alphacut.errors.storage import (
    CustomerConflict,
    DuplicateEmail,
    KeyConflict,
    SchemaError,
    StorageError,
    StorageUnavailable,
    UnknownUser,
    UnsupportedStoreUrl,
)

__all__ = [
    "ALLOWED_EXTENSIONS", "AdminApiOff", "AlphacutError", "BadRequest", "Conflict",
    "CorruptImage", "CreditAmountOutOfRange", "CreditLimitExceeded", "CreditsNotApplied",
    "CsrfRejected", "CustomerConflict", "DailyLimitReached", "DuplicateEmail",
    "EmailNotVerified", "EmptyFile", "FieldError", "FieldErrors", "FileTooLarge", "Forbidden",
    "FormTooLarge",
    "HttpError", "ImageTooTall", "ImageTooWide", "InvalidAdminToken", "InvalidApiKey",
    "InvalidCredentials", "InvalidEmail", "InvalidField", "InvalidLink", "InvalidSignature",
    "InvalidUserToken", "InvalidWebhook", "KeyAndToken", "KeyConflict", "KeysNeedVerifiedEmail",
    "MailUnavailable", "ModelError", "ModelNotInstalled", "ModelUnavailable",
    "MonthlyLimitReached",
    "MultipleValidationErrors", "NoFileSelected", "NoImage", "NoSuchKey", "NotFound",
    "OutputTooLarge", "OutputTooTall", "OutputTooWide",
    "Overloaded", "PayloadTooLarge", "RateLimited", "SchemaError", "ServiceUnavailable",
    "SideTooLarge",
    "StorageError", "StorageUnavailable", "TooManyAttempts", "TooManyRequests", "Unauthorized",
    "UnknownKey", "UnknownModel", "UnknownPackPrice", "UnknownUser", "UnmatchedEvent",
    "Unprocessable", "UnprocessableEvent", "UnsupportedExtension", "UnsupportedStoreUrl",
    "UploadTimeout", "WeakPassword", "WebhookDisabled", "WebhookTooLarge", "field_errors",
]
