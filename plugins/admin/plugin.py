"""The admin plugin (SPEC §3.15): the channel owner's tools, the economy's inspection, and the
same actions as request-reply endpoints (SPEC §2.7).

**Who.** Every command here is ``admin=True``: the core's router lets through CyTube rank ≥
``admin.owner_level`` only (anyone else: "⛔ Admin only."), and a banned admin keeps them.

**Actions** (:mod:`.actions`): ``grant @u <n> [reason]``, ``deduct @u <n> [reason]``,
``set_balance @u <n>``, ``rain <n>``, ``ban @u [reason]``, ``unban @u``; each is one ledger
posting or ban change carrying the admin's name, a transactional PM to the target and an
``audit:`` log line. ``announce <text>`` posts the admin's text verbatim (``ctx.outbox.chat``,
the one public line that bypasses the announcer). ``reload`` is the core's all-or-nothing reload,
the same as SIGHUP (the ``config_reload`` capability), its result in the reply.

The admin rain lives here, not in the ``rain`` plugin: that one is the ambient, scheduled rain
(no command); this one is an admin's deliberate award (``admin_rain``), so there is one way to
do each.

**Inspection** (:mod:`.inspection`): ``econ:stats``, ``econ:user <name>``, ``econ:health``, built
from ledger aggregates, the core's health check and the plugins' ``economy_stats`` sections and
profile fields (the gambling figures come from the gambling plugin's own ``econ:gambling`` and
its ``economy_stats`` section).

**Endpoints**: ``admin.grant|deduct|set_balance|ban|unban|reload`` and ``economy.stats|health``.
The acting name is ``by`` (a field of the request) or ``api:<client>``; money endpoints and bans
honour ``request_id`` (a retry changes nothing and returns the first answer).
"""

from __future__ import annotations

from typing import Any

from economy_core import (
    CONFIG_RELOAD,
    MODERATION,
    Amount,
    Announcement,
    ApiError,
    ApiRequest,
    CommandCall,
    Contract,
    Kind,
    PluginContext,
    PostingType,
    Rest,
    Username,
    command,
    endpoint,
)

from . import inspection, tables
from .actions import (
    DEDUCT,
    GRANT,
    RAIN,
    RAIN_ANNOUNCEMENT,
    SET_BALANCE,
    Actions,
    Refused,
    check_name,
)
from .config import AdminConfig


class Admin:
    """Admin commands, inspection and the admin endpoints; see the module docstring."""

    name = "admin"
    Config = AdminConfig
    schema = tables.schema
    contract = Contract(
        posting_types=(
            PostingType(GRANT, "admin grant", Kind.EARN, onboarding_exempt=True),
            PostingType(DEDUCT, "admin deduction", Kind.CORRECTION),
            PostingType(SET_BALANCE, "balance set by an admin", Kind.CORRECTION),
            PostingType(RAIN, "admin rain", Kind.EARN, onboarding_exempt=True),
        ),
        capabilities=(MODERATION, CONFIG_RELOAD),
        announcements=(Announcement(RAIN_ANNOUNCEMENT, "an admin's rain, before it is paid",
                                    "admin rains"),),
    )

    def __init__(self, ctx: PluginContext[AdminConfig]) -> None:
        self.ctx = ctx
        self.actions = Actions(ctx)

    def _fmt(self, amount: int) -> str:
        return self.ctx.format_amount(amount)

    # -- actions ---------------------------------------------------------------------------------

    @command("grant", admin=True, help="Give a user coins: grant @user <amount> [reason]")
    async def grant(self, call: CommandCall, user: Username, amount: Amount,
                    reason: Rest | None = None) -> str:
        try:
            done = await self.actions.grant(call.channel, call.username, user, amount, reason)
        except Refused as refused:
            return f"❌ {refused.text}"
        return (f"✅ Granted {done['username']} {self._fmt(amount)}. Their balance: "
                f"{self._fmt(done['balance'])}")

    @command("deduct", admin=True,
             help="Take coins from a user: deduct @user <amount> [reason] (never below 0)")
    async def deduct(self, call: CommandCall, user: Username, amount: Amount,
                     reason: Rest | None = None) -> str:
        try:
            done = await self.actions.deduct(call.channel, call.username, user, amount, reason)
        except Refused as refused:
            return f"❌ {refused.text}"
        return (f"✅ Deducted {self._fmt(amount)} from {done['username']}. Their balance: "
                f"{self._fmt(done['balance'])}")

    @command("set_balance", admin=True, help="Set a user's balance: set_balance @user <amount>")
    async def set_balance(self, call: CommandCall, user: Username, amount: int) -> str:
        if amount < 0:
            return "❌ A balance is 0 or more; nothing was changed."
        try:
            done = await self.actions.set_balance(call.channel, call.username, user, amount)
        except Refused as refused:
            return f"❌ {refused.text}"
        if not done["difference"]:
            return f"ℹ️ {done['username']} already has {self._fmt(amount)}; nothing changed."
        return (f"✅ {done['username']}: {self._fmt(done['old'])} → {self._fmt(done['new'])} "
                f"({done['difference']:+,}).")

    @command("rain", admin=True,
             help="Split coins over everyone present: rain <amount> (each at least 1)")
    async def rain(self, call: CommandCall, amount: Amount) -> str:
        try:
            done = await self.actions.rain(call.channel, call.username, amount)
        except Refused as refused:
            return f"❌ {refused.text}"
        return (f"☔ Rained {self._fmt(done['each'])} each on {len(done['paid'])} user(s) "
                f"({self._fmt(done['each'] * len(done['paid']))} in all).")

    @command("ban", admin=True,
             help="Suspend a user's economy access (balance kept): ban @user [reason]")
    async def ban(self, call: CommandCall, user: Username, reason: Rest | None = None) -> str:
        try:
            await self.actions.ban(call.channel, call.username, user, reason)
        except Refused as refused:
            return f"ℹ️ {refused.text}"
        return f"⛔ {user} is banned from the economy."

    @command("unban", admin=True, help="Restore a user's economy access: unban @user")
    async def unban(self, call: CommandCall, user: Username) -> str:
        try:
            await self.actions.unban(call.channel, call.username, user)
        except Refused as refused:
            return f"ℹ️ {refused.text}"
        return f"✅ {user} may use the economy again."

    @command("announce", admin=True, help="Post your text in public chat: announce <text>")
    async def announce(self, call: CommandCall, text: Rest) -> str:
        self.ctx.outbox.chat(call.channel, str(text))
        self.ctx.log.info("audit: announce in %s by %s: text=%r", call.channel, call.username,
                          str(text))
        return "📢 Posted."

    @command("reload", admin=True,
             help="Re-read the config file, all or nothing (as systemctl reload does)")
    async def reload(self, call: CommandCall) -> str:
        result = await self.ctx.reload()
        self.ctx.log.info("audit: reload in %s by %s: ok=%s", call.channel, call.username,
                          result.ok)
        return ("✅ " if result.ok else "❌ ") + result.message

    # -- inspection ------------------------------------------------------------------------------

    @command("econ:stats", admin=True, help="The channel economy at a glance (admin)")
    async def econ_stats(self, call: CommandCall) -> list[str]:
        data = await inspection.channel_stats(self.ctx, call.channel)
        found = await inspection.sections(self.ctx, call.channel)
        return ["\n".join(inspection.stats_lines(data, found, self._fmt))]

    @command("econ:user", admin=True, help="Everything about one user (admin): econ:user <name>")
    async def econ_user(self, call: CommandCall, user: Username) -> str:
        data = await inspection.user_report(self.ctx, call.channel, user)
        if data is None:
            return f"❓ {user} has no account here."
        return "\n".join(inspection.user_lines(data, self._fmt))

    @command("econ:health", admin=True,
             help="Bot health and economic health: circulation, median, participation (admin)")
    async def econ_health(self, call: CommandCall) -> str:
        data = await inspection.economic_health(self.ctx, call.channel)
        return "\n".join(inspection.health_lines(data, self._fmt))

    # -- endpoints -------------------------------------------------------------------------------

    @staticmethod
    def _by(request: ApiRequest) -> str:
        by = request.args.get("by")
        if by is None:
            return f"api:{request.caller}"
        try:
            return check_name(by)
        except Refused as refused:
            raise ApiError(f"by: {refused.text}") from None

    @endpoint("admin.grant", help="Credit a user: username, amount, reason?, by?; request_id "
                                  "makes a retry move nothing")
    async def api_grant(self, request: ApiRequest) -> dict[str, Any]:
        a = request.args
        return await self.actions.grant(
            request.channel, self._by(request), a.get("username"), a.get("amount"),
            a.get("reason"), via=f"api:{request.caller}", request_id=request.request_id)

    @endpoint("admin.deduct", help="Debit a user or fail (insufficient): username, amount, "
                                   "reason?, by?; request_id makes a retry move nothing")
    async def api_deduct(self, request: ApiRequest) -> dict[str, Any]:
        a = request.args
        return await self.actions.deduct(
            request.channel, self._by(request), a.get("username"), a.get("amount"),
            a.get("reason"), via=f"api:{request.caller}", request_id=request.request_id)

    @endpoint("admin.set_balance", help="Set an existing account's balance (≥ 0): username, "
                                        "amount, by?; request_id makes a retry move nothing")
    async def api_set_balance(self, request: ApiRequest) -> dict[str, Any]:
        a = request.args
        return await self.actions.set_balance(
            request.channel, self._by(request), a.get("username"), a.get("amount"),
            via=f"api:{request.caller}", request_id=request.request_id)

    @endpoint("admin.ban", help="Ban a user from the economy: username, reason?, by?")
    async def api_ban(self, request: ApiRequest) -> dict[str, Any]:
        a = request.args
        return await self.actions.ban(request.channel, self._by(request), a.get("username"),
                                      a.get("reason"), via=f"api:{request.caller}",
                                      request_id=request.request_id)

    @endpoint("admin.unban", help="Lift a user's economy ban: username, by?")
    async def api_unban(self, request: ApiRequest) -> dict[str, Any]:
        return await self.actions.unban(request.channel, self._by(request),
                                        request.args.get("username"),
                                        via=f"api:{request.caller}",
                                        request_id=request.request_id)

    @endpoint("admin.reload", help="Re-read the config file, all or nothing (as SIGHUP)")
    async def api_reload(self, request: ApiRequest) -> dict[str, Any]:
        result = await self.ctx.reload()
        self.ctx.log.info("audit: reload by %s: ok=%s", self._by(request), result.ok)
        if not result.ok:
            raise ApiError(result.message)
        return {"reloaded": True, "message": result.message}

    @endpoint("economy.stats", help="Accounts, present, active today, circulation, today's "
                                    "flows, and every plugin's statistics section")
    async def api_stats(self, request: ApiRequest) -> dict[str, Any]:
        data = await inspection.channel_stats(self.ctx, request.channel)
        found = await inspection.sections(self.ctx, request.channel)
        return {**data, "sections": inspection.section_data(found)}

    @endpoint("economy.health", help="The bot's health check plus circulation, median "
                                     "balance, participation and today's net flow")
    async def api_health(self, request: ApiRequest) -> dict[str, Any]:
        return await inspection.economic_health(self.ctx, request.channel)
