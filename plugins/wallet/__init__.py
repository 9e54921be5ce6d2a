"""Wallet: balance, history, leaderboards, profiles, rewards (entry point ``wallet``)."""

from .plugin import Wallet, WalletConfig

__all__ = ["Wallet", "WalletConfig"]
