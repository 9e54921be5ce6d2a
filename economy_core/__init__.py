"""cytube-economy: the kernel (config, ledger, clock, bus, router, plugin manager, metrics).

Everything a plugin author needs is importable from here, and only from here::

    from economy_core import Contract, PluginContext, PostingType, command, hookimpl, setting

What this module does not re-export is the core's own business (its services' life cycles, the
app, the bus); the test kit lives in :mod:`economy_core.testing` (a pytest plugin).
"""

from . import hookspecs
from .approvals import Approval, ApprovalRequested, ApprovalResolved
from .commands import (
    MAX_AMOUNT,
    Amount,
    ArgumentError,
    Ask,
    CommandCall,
    Rest,
    Username,
    command,
    shown,
)
from .config import setting
from .context import CapabilityError, PluginContext, ReloadResult
from .contract import (
    CONFIG_RELOAD,
    MODERATION,
    Announcement,
    Catalogue,
    Contract,
    Counter,
    PostingType,
)
from .cron import CronError, CronSpec
from .db import NAMING, UtcDateTime, chunks
from .endpoints import ApiError, ApiRequest, endpoint
from .events import (
    ChatMessage,
    MediaChanged,
    PrivateMessage,
    RelayedChat,
    RoomSnapshot,
    RoomUser,
    UserArrived,
    UserJoined,
    UserLeft,
    user_key,
)
from .figures import participation_rate
from .health import Health
from .hookspecs import hookimpl, hookspec
from .hooktypes import (
    AwardRequest,
    CliCommand,
    ConfigNote,
    Multiplier,
    PriceAdjustment,
    PriceQuote,
    ProfileField,
    StatsSection,
)
from .ledger import (
    ESCROW_CLOSED,
    INSUFFICIENT_FUNDS,
    WITHHELD,
    Award,
    Escrow,
    Kind,
    KindTotals,
    LedgerTx,
    LedgerView,
    Posting,
    TxResult,
)
from .legacy import legacy_time
from .pricing import Price
from .robot_api import MediaResult, PlaylistItem, RankResult
from .scheduler import Job
from .storage import PluginConnection, PluginDatabase, Schema, inserted_id
from .text import render, template_validator
from .triggers import Cap, ChatContext, EarningTrigger, PlayingMedia, TriggerHit
from .user_tables import UserTable, export_user_rows, forget_user_rows, jsonable

__all__ = [
    "CONFIG_RELOAD", "ESCROW_CLOSED", "INSUFFICIENT_FUNDS", "MAX_AMOUNT", "MODERATION", "NAMING",
    "WITHHELD",
    "Amount", "Announcement", "ApiError", "ApiRequest", "Approval", "ApprovalRequested",
    "ApprovalResolved", "ArgumentError", "Ask", "Award", "AwardRequest", "Cap",
    "CapabilityError", "Catalogue", "ChatContext", "ChatMessage", "CliCommand", "CommandCall",
    "ConfigNote", "Contract", "Counter", "CronError", "CronSpec", "EarningTrigger", "Escrow",
    "Health", "Job", "Kind", "KindTotals", "LedgerTx",
    "LedgerView", "MediaChanged", "MediaResult", "Multiplier", "PlayingMedia", "PlaylistItem",
    "PluginConnection",
    "PluginContext", "PluginDatabase", "Posting", "PostingType", "Price", "PriceAdjustment",
    "PriceQuote", "PrivateMessage", "ProfileField", "RankResult", "RelayedChat", "ReloadResult",
    "Rest", "RoomSnapshot", "RoomUser", "Schema", "StatsSection", "TriggerHit", "TxResult",
    "UserArrived", "UserJoined", "UserLeft", "UserTable", "Username", "UtcDateTime", "chunks",
    "command", "endpoint", "export_user_rows", "forget_user_rows", "hookimpl", "hookspec",
    "hookspecs", "inserted_id", "jsonable", "legacy_time", "participation_rate", "render",
    "setting", "shown", "template_validator", "user_key"
]
