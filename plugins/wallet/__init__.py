"""Wallet: balance, history, leaderboards, profiles and the rewards list (entry point ``wallet``)."""

from .plugin import Wallet, WalletConfig

__all__ = ["Wallet", "WalletConfig"]
